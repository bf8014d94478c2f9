"""Alpha units: raw and relative to the mean token norm, the degeneration bound, the default."""

from __future__ import annotations

import pytest

from app.services.alpha import AlphaScale
from app.services.uploads import RequestRejected


def test_norm_alphas_convert_through_the_mean_norm_and_the_steering_scale() -> None:
    scale = AlphaScale(mean_token_norm=22.0, steering_scale=2.0)
    assert scale.to_raw(0.5, "norm") == pytest.approx(5.5)
    assert scale.to_raw(7.0, "raw") == 7.0
    assert scale.relative(5.5) == pytest.approx(0.5)
    assert scale.suggested_raw() == pytest.approx(4.95)


def test_the_bound_is_twice_the_mean_norm_summed_over_a_steps_features() -> None:
    scale = AlphaScale(mean_token_norm=10.0, steering_scale=1.0)
    scale.check([[20.0], [-20.0], [12.0, -8.0]])
    with pytest.raises(RequestRejected, match=r"2\.01 × this layer's mean token norm") as error:
        scale.check([[1.0], [12.0, -8.1]])
    assert error.value.status_code == 422


def test_without_a_measured_norm_there_is_no_bound_and_no_norm_unit() -> None:
    scale = AlphaScale(mean_token_norm=None, steering_scale=1.0)
    scale.check([[1000.0]])
    assert scale.relative(3.0) is None and scale.suggested_raw() is None
    with pytest.raises(RequestRejected, match="run precompute"):
        scale.to_raw(0.5, "norm")
