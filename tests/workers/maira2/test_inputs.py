"""Image normalisation equals the reference processor's published formula, pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from workers.maira2.inputs import model_image


def reference_normalisation(image: Image.Image) -> np.ndarray:
    """The reference processor's formula: grey, `(x - min) / (max - min) * 255`, cast to uint8."""
    grey = np.array(image.convert("L"))
    stretched = (grey - grey.min()) / (grey.max() - grey.min()) * 255
    return np.array(Image.fromarray(stretched.astype(np.uint8)).convert("L"))


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    narrow = rng.integers(30, 201, size=(48, 40), dtype=np.uint8)
    colour = rng.integers(0, 256, size=(32, 36, 3), dtype=np.uint8)
    return [
        Image.fromarray(narrow),
        Image.fromarray(colour),
        Image.fromarray(rng.integers(0, 256, size=(20, 30), dtype=np.uint8)),
        Image.fromarray(np.tile(np.arange(17, 240, dtype=np.uint8), (5, 1))),
    ]


@pytest.mark.parametrize("index", range(4))
def test_normalisation_equals_the_reference(index: int) -> None:
    image = _images()[index]
    ours = np.array(model_image(image))
    assert ours.shape[-1] == 3 and (ours == ours[..., :1]).all()
    np.testing.assert_array_equal(ours[..., 0], reference_normalisation(image))


def test_truncation_not_rounding_on_a_narrow_range() -> None:
    """Rounding would differ from the reference by one grey level on many of the pixels."""
    image = _images()[0]
    grey = np.array(image, dtype=np.float64)
    rounded = np.round((grey - grey.min()) / (grey.max() - grey.min()) * 255).astype(np.uint8)
    ours = np.array(model_image(image))[..., 0]
    differing = (rounded != ours).mean()
    assert 0.2 < differing < 0.8
    assert int(np.abs(rounded.astype(int) - ours.astype(int)).max()) == 1


def test_constant_image_becomes_black() -> None:
    image = Image.fromarray(np.full((8, 8), 90, dtype=np.uint8))
    assert not np.array(model_image(image)).any()
