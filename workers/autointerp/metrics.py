"""Classification metrics of scoring verdicts, each with n and a bootstrap 95% interval.

Only answered verdicts count towards a metric; unparseable answers and failed calls are counted
beside it (never dropped silently, never turned into a score). A metric undefined on the data
(e.g. precision with no positive prediction) is None, as are its interval bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METRICS = ("precision", "recall", "f1", "accuracy", "balanced_accuracy", "auc")
BOOTSTRAP_SAMPLES = 1000


@dataclass(frozen=True)
class Verdict:
    """One scored example: the truth, the LLM's answer (None: unparseable or failed)."""

    activating: bool
    prediction: bool | None
    probability: float | None = None
    status: str = "ok"
    """ok, unparseable or failed."""


def point_metrics(
    truth: np.ndarray, prediction: np.ndarray, probability: np.ndarray | None
) -> dict[str, float | None]:
    """The six metrics of boolean arrays (and probabilities for AUC, or None)."""
    values = batch_metrics(truth[None, :], prediction[None, :], _row(probability))
    return {name: None if np.isnan(v[0]) else float(v[0]) for name, v in values.items()}


def _row(probability: np.ndarray | None) -> np.ndarray | None:
    return None if probability is None else probability[None, :]


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def batch_metrics(
    truth: np.ndarray, prediction: np.ndarray, probability: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The metrics of each row of (B, n) arrays at once; NaN where undefined."""
    tp = np.sum(truth & prediction, axis=1).astype(float)
    fp = np.sum(~truth & prediction, axis=1).astype(float)
    fn = np.sum(truth & ~prediction, axis=1).astype(float)
    tn = np.sum(~truth & ~prediction, axis=1).astype(float)
    recall = _divide(tp, tp + fn)
    specificity = _divide(tn, tn + fp)
    return {
        "precision": _divide(tp, tp + fp),
        "recall": recall,
        "f1": _divide(2 * tp, 2 * tp + fp + fn),
        "accuracy": _divide(tp + tn, np.full_like(tp, truth.shape[1])),
        "balanced_accuracy": (recall + specificity) / 2,
        "auc": np.full_like(tp, np.nan) if probability is None else batch_auc(truth, probability),
    }


def batch_auc(truth: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Area under the ROC curve per row (Mann-Whitney, ties count half); NaN without both
    classes in a row."""
    positive = truth[:, :, None] & ~truth[:, None, :]
    greater = score[:, :, None] > score[:, None, :]
    ties = score[:, :, None] == score[:, None, :]
    wins = np.sum(positive & greater, axis=(1, 2)) + 0.5 * np.sum(positive & ties, axis=(1, 2))
    pairs = truth.sum(axis=1) * (~truth).sum(axis=1)
    return _divide(wins.astype(float), pairs.astype(float))


def score_verdicts(verdicts: Sequence[Verdict], *, seed: int = 0) -> dict[str, object]:
    """Metrics of the answered verdicts with bootstrap 95% intervals, and the counts."""
    answered = [v for v in verdicts if v.prediction is not None]
    truth = np.array([v.activating for v in answered], dtype=bool)
    prediction = np.array([bool(v.prediction) for v in answered], dtype=bool)
    with_probability = answered and all(v.probability is not None for v in answered)
    probability = (
        np.array([v.probability for v in answered], dtype=float) if with_probability else None
    )
    values = point_metrics(truth, prediction, probability)
    intervals = bootstrap_intervals(truth, prediction, probability, seed=seed)
    return {
        "n": len(answered),
        "n_total": len(verdicts),
        "n_unparseable": sum(v.status == "unparseable" for v in verdicts),
        "n_failed": sum(v.status == "failed" for v in verdicts),
        "n_activating": int(truth.sum()),
        "metrics": {
            name: {"value": values[name], "low": intervals[name][0], "high": intervals[name][1]}
            for name in METRICS
        },
    }


def bootstrap_intervals(
    truth: np.ndarray,
    prediction: np.ndarray,
    probability: np.ndarray | None,
    *,
    seed: int = 0,
    samples: int = BOOTSTRAP_SAMPLES,
) -> dict[str, tuple[float | None, float | None]]:
    """Percentile 95% intervals over resamples with replacement (undefined resamples skipped).

    A resample is a vector of counts (how often each verdict was drawn), so every metric is a
    matrix product: (samples, n) counts times per-verdict indicators. The products run in
    float64 BLAS, 10-20x faster than numpy's integer matmul at a few hundred verdicts, and still
    exact: every sum is an integer below 2n², far under 2^53."""
    n = len(truth)
    if not n:
        return {name: (None, None) for name in METRICS}
    pick = np.random.default_rng(seed).integers(0, n, (samples, n))
    offsets = (pick + n * np.arange(samples)[:, None]).ravel()
    counts = np.bincount(offsets, minlength=samples * n).reshape(samples, n).astype(float)
    indicators = np.stack(
        [truth & prediction, ~truth & prediction, truth & ~prediction, ~truth & ~prediction]
    ).T.astype(float)
    tp, fp, fn, tn = (counts @ indicators).T
    recall = _divide(tp, tp + fn)
    values = {
        "precision": _divide(tp, tp + fp),
        "recall": recall,
        "f1": _divide(2 * tp, 2 * tp + fp + fn),
        "accuracy": (tp + tn) / n,
        "balanced_accuracy": (recall + _divide(tn, tn + fp)) / 2,
        "auc": np.full(samples, np.nan),
    }
    if probability is not None:
        pairs = truth[:, None] & ~truth[None, :]
        twice_wins = (
            pairs
            * (
                2 * (probability[:, None] > probability[None, :])
                + (probability[:, None] == probability[None, :])
            )
        ).astype(float)
        positives = counts @ truth.astype(float)
        values["auc"] = _divide(
            ((counts @ twice_wins) * counts).sum(axis=1) / 2, positives * (n - positives)
        )
    intervals: dict[str, tuple[float | None, float | None]] = {}
    for name in METRICS:
        defined = values[name][~np.isnan(values[name])]
        if len(defined):
            low, high = np.percentile(defined, [2.5, 97.5])
            intervals[name] = (float(low), float(high))
        else:
            intervals[name] = (None, None)
    return intervals
