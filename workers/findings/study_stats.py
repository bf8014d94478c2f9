"""The statistics of a steering study: outcome shares with Wilson intervals per feature and alpha,
and the correlation between steering a feature up (+alpha) and down (-alpha) over the studies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from workers.findings.targets import OUTCOMES, Outcome, outcome

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Share:
    """`count` of `n` with its Wilson score interval (95%)."""

    count: int
    n: int
    share: float
    low: float
    high: float


def wilson(count: int, n: int, z: float = Z_95) -> Share:
    """The Wilson score interval of a binomial proportion; (0, 0, 1) bounds for n = 0."""
    if not 0 <= count <= n:
        raise ValueError(f"count {count} is not between 0 and n = {n}")
    if n == 0:
        return Share(0, 0, 0.0, 0.0, 1.0)
    p = count / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Share(count, n, p, max(0.0, centre - half), min(1.0, centre + half))


def outcome_shares(outcomes: Sequence[Outcome]) -> dict[Outcome, Share]:
    """Each outcome class's count and share of the reports, with intervals."""
    return {name: wilson(sum(o == name for o in outcomes), len(outcomes)) for name in OUTCOMES}


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r (phi for 0/1 data); None with fewer than 2 pairs or a constant side."""
    if len(x) != len(y):
        raise ValueError(f"{len(x)} values against {len(y)}")
    n = len(x)
    if n < 2:
        return None
    mean_x, mean_y = sum(x) / n, sum(y) / n
    sxx = sum((a - mean_x) ** 2 for a in x)
    syy = sum((b - mean_y) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    sxy = sum((a - mean_x) * (b - mean_y) for a, b in zip(x, y, strict=True))
    return sxy / math.sqrt(sxx * syy)


@dataclass(frozen=True)
class Cell:
    """One feature at one alpha over all studies: outcome shares."""

    feature: int
    alpha: float
    n: int
    shares: dict[Outcome, Share]


@dataclass(frozen=True)
class Correlation:
    """Across studies, steering up (+alpha) against down (-alpha): Pearson's r (phi) of
    "an on-target change" and of "any change", over `n` studies (None when undefined)."""

    feature: int
    alpha: float
    n: int
    on_target: float | None
    any_change: float | None


Flags = tuple[bool, bool]
"""(on-target change, off-target change) of one steered report."""


def study_cells(
    studies: Sequence[dict[tuple[int, float], Flags]],
    features: Sequence[int],
    alphas: Sequence[float],
) -> list[Cell]:
    """Per feature and alpha (features outermost), the outcome shares over the studies."""
    return [
        Cell(
            feature,
            alpha,
            len(studies),
            outcome_shares([outcome(*study[feature, alpha]) for study in studies]),
        )
        for feature in features
        for alpha in alphas
    ]


def up_down_correlations(
    studies: Sequence[dict[tuple[int, float], Flags]],
    features: Sequence[int],
    alphas: Sequence[float],
) -> list[Correlation]:
    """For each feature and each alpha > 0 whose negative was also run, the correlations."""
    pairs = [alpha for alpha in alphas if alpha > 0 and -alpha in alphas]
    correlations = []
    for feature in features:
        for alpha in pairs:
            up = [study[feature, alpha] for study in studies]
            down = [study[feature, -alpha] for study in studies]
            correlations.append(
                Correlation(
                    feature,
                    alpha,
                    len(studies),
                    pearson([float(u[0]) for u in up], [float(d[0]) for d in down]),
                    pearson([float(any(u)) for u in up], [float(any(d)) for d in down]),
                )
            )
    return correlations
