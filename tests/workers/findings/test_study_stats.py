"""Steering-study statistics on fixed inputs: Wilson intervals, outcome shares, up/down r."""

from __future__ import annotations

import pytest

from workers.findings.study_stats import (
    outcome_shares,
    pearson,
    study_cells,
    up_down_correlations,
    wilson,
)


def test_wilson_intervals_match_published_values() -> None:
    three = wilson(3, 10)
    assert (three.count, three.n, three.share) == (3, 10, 0.3)
    assert (three.low, three.high) == pytest.approx((0.1078, 0.6032), abs=1e-4)
    none = wilson(0, 20)
    assert (none.low, none.high) == pytest.approx((0.0, 0.1611), abs=1e-4)
    every = wilson(20, 20)
    assert (every.low, every.high) == pytest.approx((0.8389, 1.0), abs=1e-4)
    assert wilson(0, 0).high == 1.0
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson(4, 3)


def test_outcome_shares_count_each_class() -> None:
    shares = outcome_shares(["on_only", "none", "none", "both", "off_only", "none"])
    assert {name: share.count for name, share in shares.items()} == {
        "on_only": 1,
        "off_only": 1,
        "both": 1,
        "none": 3,
    }
    assert shares["none"].share == 0.5 and all(share.n == 6 for share in shares.values())


def test_pearson_is_phi_on_binary_data_and_none_when_undefined() -> None:
    assert pearson([1, 1, 0, 0], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert pearson([1, 1, 0, 0], [0, 0, 1, 1]) == pytest.approx(-1.0)
    # phi of the 2x2 table a=2, b=1, c=1, d=2: (ad - bc) / sqrt(3*3*3*3) = 3/9
    assert pearson([1, 1, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0]) == pytest.approx(1 / 3)
    assert pearson([1, 1, 1], [0, 1, 0]) is None and pearson([1], [1]) is None


def test_cells_and_up_down_correlations_over_fixed_studies() -> None:
    on, off, both, none = (True, False), (False, True), (True, True), (False, False)
    studies = [
        {(7, 10.0): on, (7, -10.0): on, (7, 0.0): none},
        {(7, 10.0): both, (7, -10.0): on, (7, 0.0): none},
        {(7, 10.0): none, (7, -10.0): off, (7, 0.0): none},
        {(7, 10.0): off, (7, -10.0): none, (7, 0.0): none},
    ]
    cells = study_cells(studies, [7], [-10.0, 0.0, 10.0])
    assert [(cell.feature, cell.alpha, cell.n) for cell in cells] == [
        (7, -10.0, 4),
        (7, 0.0, 4),
        (7, 10.0, 4),
    ]
    up = {name: share.count for name, share in cells[2].shares.items()}
    assert up == {"on_only": 1, "off_only": 1, "both": 1, "none": 1}
    assert cells[1].shares["none"].count == 4
    (correlation,) = up_down_correlations(studies, [7], [-10.0, 0.0, 10.0])
    assert (correlation.feature, correlation.alpha, correlation.n) == (7, 10.0, 4)
    assert correlation.on_target == pytest.approx(1.0)
    assert correlation.any_change == pytest.approx(-1 / 3)
    assert up_down_correlations(studies, [7], [0.0, 10.0]) == []
