"""Scoring metrics equal hand-computed values; unanswered verdicts are counted, not scored."""

from __future__ import annotations

import numpy as np
import pytest

from workers.autointerp.metrics import Verdict, bootstrap_intervals, point_metrics, score_verdicts


def _values(summary: dict) -> dict:
    return {name: m["value"] for name, m in summary["metrics"].items()}


def test_metrics_on_fixed_verdicts_equal_hand_computed_values() -> None:
    # 4 activating: 3 said yes (tp=3, fn=1); 6 not: 2 said yes (fp=2, tn=4).
    verdicts = [Verdict(True, p) for p in (True, True, True, False)] + [
        Verdict(False, p) for p in (True, True, False, False, False, False)
    ]
    summary = score_verdicts(verdicts)
    values = _values(summary)
    assert values["precision"] == pytest.approx(3 / 5)
    assert values["recall"] == pytest.approx(3 / 4)
    assert values["f1"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert values["accuracy"] == pytest.approx(7 / 10)
    assert values["balanced_accuracy"] == pytest.approx((3 / 4 + 4 / 6) / 2)
    assert values["auc"] is None
    assert summary["n"] == 10 and summary["n_activating"] == 4
    for name in ("precision", "recall", "f1", "accuracy", "balanced_accuracy"):
        metric = summary["metrics"][name]
        assert metric["low"] <= metric["value"] <= metric["high"]
        assert metric["low"] < metric["high"]


def test_auc_from_probabilities_counts_ties_half() -> None:
    verdicts = [
        Verdict(True, True, 0.9),
        Verdict(True, False, 0.4),
        Verdict(False, False, 0.4),
        Verdict(False, False, 0.1),
    ]
    # Pairs (pos, neg): (0.9,0.4) win, (0.9,0.1) win, (0.4,0.4) tie, (0.4,0.1) win -> 3.5 / 4.
    assert _values(score_verdicts(verdicts))["auc"] == pytest.approx(3.5 / 4)


def test_unparseable_and_failed_verdicts_are_counted_not_scored() -> None:
    verdicts = [
        Verdict(True, True),
        Verdict(False, False),
        Verdict(True, None, status="unparseable"),
        Verdict(False, None, status="failed"),
        Verdict(False, None, status="failed"),
    ]
    summary = score_verdicts(verdicts)
    assert (summary["n"], summary["n_total"]) == (2, 5)
    assert (summary["n_unparseable"], summary["n_failed"]) == (1, 2)
    assert _values(summary)["f1"] == 1.0


def test_undefined_metrics_are_none_with_no_interval() -> None:
    summary = score_verdicts([Verdict(False, False), Verdict(False, False)])
    assert summary["metrics"]["precision"] == {"value": None, "low": None, "high": None}
    assert summary["metrics"]["balanced_accuracy"]["value"] is None
    assert _values(score_verdicts([]))["f1"] is None


@pytest.mark.parametrize("with_probability", [False, True])
def test_bootstrap_intervals_equal_a_resample_by_resample_loop(with_probability: bool) -> None:
    rng = np.random.default_rng(3)
    n, samples = 60, 200
    truth, prediction = rng.random(n) < 0.4, rng.random(n) < 0.5
    probability = np.round(rng.random(n), 1) if with_probability else None
    fast = bootstrap_intervals(truth, prediction, probability, seed=7, samples=samples)

    # The same resamples, one at a time, through the plain metric definitions.
    picks = np.random.default_rng(7).integers(0, n, (samples, n))
    rows = [
        point_metrics(truth[p], prediction[p], None if probability is None else probability[p])
        for p in picks
    ]
    for name, (low, high) in fast.items():
        defined = [row[name] for row in rows if row[name] is not None]
        if not defined:
            assert (low, high) == (None, None)
            continue
        assert (low, high) == pytest.approx(tuple(np.percentile(defined, [2.5, 97.5])))
