"""Agreement statistics of a review campaign, with item-resampling bootstrap intervals.

Pure numpy (plus the `krippendorff` package for the point estimate of alpha): no database, no
HTTP, no torch, so the web process imports it directly and the tests check it against published
worked examples. It lives under `app/services/review/` because only the review services use it;
`db/` holds storage, not analysis.

Every bootstrap resamples *items* (the unit a reviewer judges) with one shared matrix of
multinomial counts `weights (B, U)`: replicate b counts item u `weights[b, u]` times. Each
statistic is a function of per-item sums, so all B replicates are one matrix product. That is
why Cohen's and Fleiss' kappa are written out here instead of calling statsmodels (which also
needs pandas and scipy in the web process): its functions take one table at a time and would
need a Python loop of B calls per reviewer pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import krippendorff
import numpy as np

SCALE = np.arange(1, 6)
"""The ordinal rating scale: 1 (wrong) to 5 (exact)."""
ACCEPTED_RATING = 4
"""A decoy rated at least this high counts as accepted."""
Weighting = Literal["linear", "quadratic"]


@dataclass(frozen=True)
class Interval:
    """A statistic with its percentile bootstrap 95% interval (None where undefined)."""

    estimate: float | None
    low: float | None
    high: float | None
    n: int
    """Units the estimate rests on (items, or features for Spearman's rho)."""


def bootstrap_weights(n_units: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """`(n_units, n_boot)` counts: how often each unit is drawn in each replicate.

    float32 holds these counts and their sums exactly (below 2**24) at half the memory traffic
    of float64, which is what the replicate sums are bound by."""
    draws = rng.integers(0, n_units, size=(n_boot, n_units))
    draws += (np.arange(n_boot) * n_units)[:, None]
    counts = np.bincount(draws.ravel(), minlength=n_boot * n_units)
    return np.ascontiguousarray(counts.reshape(n_boot, n_units).T, dtype=np.float32)


def _interval(estimate: float, replicates: np.ndarray, n: int) -> Interval:
    if not np.isfinite(estimate):
        return Interval(None, None, None, n)
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return Interval(float(estimate), None, None, n)
    low, high = np.percentile(finite, [2.5, 97.5])
    return Interval(float(estimate), float(low), float(high), n)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator != 0, numerator / np.where(denominator != 0, denominator, 1), np.nan
        )


# Krippendorff's alpha (ordinal) ------------------------------------------------------------


def unit_value_counts(unit: np.ndarray, values: np.ndarray, n_units: int) -> np.ndarray:
    """`(n_units, 5)` counts of each rating 1..5 per unit."""
    counts = np.zeros((n_units, SCALE.size))
    np.add.at(counts, (unit, values - SCALE[0]), 1)
    return counts


def krippendorff_alpha(value_counts: np.ndarray) -> float:
    """Krippendorff's alpha, ordinal metric, from `(units, 5)` value counts (the package's)."""
    pairable = value_counts[value_counts.sum(1) >= 2]
    if pairable.shape[0] == 0 or np.count_nonzero(pairable.sum(0)) < 2:
        return float("nan")
    return float(
        krippendorff.alpha(
            value_counts=pairable, level_of_measurement="ordinal", value_domain=SCALE
        )
    )


def _coincidences(value_counts: np.ndarray) -> np.ndarray:
    """`(units, V*V)` per-unit contributions to the coincidence matrix (Krippendorff 2011)."""
    m = value_counts.sum(1)
    pair = value_counts[:, :, None] * value_counts[:, None, :]
    pair -= value_counts[:, :, None] * np.eye(value_counts.shape[1])
    return (pair / (m - 1)[:, None, None]).reshape(
        value_counts.shape[0], value_counts.shape[1] ** 2
    )


def alpha_replicates(value_counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Ordinal alpha of each replicate: `weights (units, B)` over pairable `value_counts`."""
    v = value_counts.shape[1]
    o = (weights.T @ _coincidences(value_counts)).reshape(-1, v, v)
    n_c = o.sum(2)
    n = n_c.sum(1)
    upper = np.cumsum(n_c, 1)
    lower = upper - n_c
    c, k = np.meshgrid(np.arange(v), np.arange(v), indexing="ij")
    hi, lo = np.maximum(c, k), np.minimum(c, k)
    delta = (upper[:, hi] - lower[:, lo] - (n_c[:, c] + n_c[:, k]) / 2) ** 2
    observed = (o * delta).sum((1, 2))
    expected = (n_c[:, :, None] * n_c[:, None, :] * delta).sum((1, 2))
    return 1 - (n - 1) * _safe_divide(observed, expected)


# Cohen's weighted kappa --------------------------------------------------------------------


def disagreement_weights(k: int, weighting: Weighting) -> np.ndarray:
    """`(k, k)` disagreement weights: |i-j|/(k-1) (linear) or its square (quadratic)."""
    distance = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / (k - 1)
    return distance if weighting == "linear" else distance**2


def weighted_kappa_tables(tables: np.ndarray, weighting: Weighting) -> np.ndarray:
    """Cohen's (1968) weighted kappa of each `(..., k, k)` contingency table (rows: rater 1)."""
    k = tables.shape[-1]
    w = disagreement_weights(k, weighting)
    total = tables.sum((-2, -1))
    expected = tables.sum(-1)[..., :, None] * tables.sum(-2)[..., None, :]
    observed = (tables * w).sum((-2, -1)) * total
    return 1 - _safe_divide(observed, (expected * w).sum((-2, -1)))


@dataclass(frozen=True)
class PairKappa:
    """Weighted kappa of two reviewers over the items both rated."""

    reviewer_a: int
    reviewer_b: int
    kappa: Interval


def pairwise_kappa(
    unit: np.ndarray,
    reviewer: np.ndarray,
    rating: np.ndarray,
    weights: np.ndarray,
    weighting: Weighting = "quadratic",
    min_shared: int = 2,
) -> list[PairKappa]:
    """Weighted kappa for every reviewer pair sharing at least `min_shared` items.

    `unit`, `reviewer`, `rating` are parallel arrays (one rating each); `weights (units, B)` is
    the shared bootstrap resample. All pairs' replicate tables come from one gather and one
    segmented sum over (pair, cell) keys.
    """
    k = SCALE.size
    reviewers = np.unique(reviewer)
    grid = np.full((reviewers.size, weights.shape[0]), -1)
    grid[np.searchsorted(reviewers, reviewer), unit] = rating - SCALE[0]
    rated = grid >= 0
    pairs, keys, units = [], [], []
    for a in range(reviewers.size):
        for b in range(a + 1, reviewers.size):
            shared = np.flatnonzero(rated[a] & rated[b])
            if shared.size < min_shared:
                continue
            keys.append(len(pairs) * k * k + grid[a, shared] * k + grid[b, shared])
            units.append(shared)
            pairs.append((a, b, shared.size))
    if not pairs:
        return []
    key, order = np.concatenate(keys), None
    order = np.argsort(key, kind="stable")
    key, unit_sorted = key[order], np.concatenate(units)[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    cells = np.zeros((len(pairs) * k * k, weights.shape[1] + 1))
    cells[key[starts], :-1] = np.add.reduceat(weights[unit_sorted], starts, axis=0)
    cells[:, -1] = np.bincount(key, minlength=cells.shape[0])
    tables = cells.reshape(len(pairs), k, k, -1).transpose(0, 3, 1, 2)
    kappas = weighted_kappa_tables(tables, weighting)
    return [
        PairKappa(
            int(reviewers[a]), int(reviewers[b]), _interval(float(kappas[p, -1]), kappas[p, :-1], n)
        )
        for p, (a, b, n) in enumerate(pairs)
    ]


# Fleiss' kappa -----------------------------------------------------------------------------


def _fleiss_parts(category_counts: np.ndarray) -> np.ndarray:
    """`(units, 3 + C)` per-unit parts: agreement P_i, 1, the category counts n_ij, and n_i."""
    n_i = category_counts.sum(1)
    agreement = ((category_counts**2).sum(1) - n_i) / (n_i * (n_i - 1))
    return np.column_stack([agreement, np.ones_like(n_i), category_counts, n_i])


def fleiss_kappa_sums(sums: np.ndarray) -> np.ndarray:
    """Fleiss' kappa from `(..., 3 + C)` summed `_fleiss_parts`."""
    p_bar = _safe_divide(sums[..., 0], sums[..., 1])
    p_j = _safe_divide(sums[..., 2:-1], sums[..., -1:])
    p_e = (p_j**2).sum(-1)
    return _safe_divide(p_bar - p_e, 1 - p_e)


def fleiss_kappa(category_counts: np.ndarray) -> float:
    """Fleiss' (1971) kappa of `(units, categories)` answer counts, units with >= 2 answers.

    With a constant number of answers per unit this is exactly Fleiss' statistic; with varying
    numbers it uses each unit's own n_i in P_i and pools the category shares over all answers
    (the usual generalisation), so items rated by more reviewers (the overlap) can be included.
    """
    counts = category_counts[category_counts.sum(1) >= 2]
    if counts.shape[0] == 0:
        return float("nan")
    return float(fleiss_kappa_sums(_fleiss_parts(counts).sum(0)))


def fleiss_replicates(category_counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fleiss' kappa of each replicate; `category_counts` rows have >= 2 answers each."""
    return fleiss_kappa_sums(weights.T @ _fleiss_parts(category_counts))


# Spearman's rho ----------------------------------------------------------------------------


def _weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """`(n, B)` average ranks of `values (n,)` in each replicate, `weights (n, B)` counting how
    often each value is drawn (tied draws share their average rank)."""
    codes = np.unique(values, return_inverse=True)[1]
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    counts = weights[order]
    if starts.size < values.size:
        counts = np.add.reduceat(counts, starts, axis=0)
    below = np.cumsum(counts, 0) - counts
    return (below + (counts + 1) / 2)[codes]


def _weighted_pearson(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson's r of `(n, B)` columns with `(n, B)` weights, one value per column."""
    total = weights.sum(0)
    x = x - _safe_divide((weights * x).sum(0), total)
    y = y - _safe_divide((weights * y).sum(0), total)
    covariance = (weights * x * y).sum(0)
    return _safe_divide(covariance, np.sqrt((weights * x * x).sum(0) * (weights * y * y).sum(0)))


def spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> Interval:
    """Spearman's rho of paired values `x`, `y` with a bootstrap interval over the pairs,
    resampled by `weights (n, B)`."""
    n = x.size
    if n < 3:
        return Interval(None, None, None, n)
    ones = np.ones((n, 1))
    rho = _weighted_pearson(_weighted_ranks(x, ones), _weighted_ranks(y, ones), ones)
    replicates = _weighted_pearson(
        _weighted_ranks(x, weights), _weighted_ranks(y, weights), weights
    )
    return _interval(float(rho[0]), replicates, n)


# Per reviewer and per feature ---------------------------------------------------------------


@dataclass(frozen=True)
class DecoyAcceptance:
    """How often one reviewer rated a decoy label as fitting (>= ACCEPTED_RATING)."""

    reviewer: int
    accepted: int
    n: int
    share: float


def decoy_acceptance(
    reviewer: np.ndarray, rating: np.ndarray, is_decoy: np.ndarray
) -> list[DecoyAcceptance]:
    """Per reviewer with at least one rated decoy, by reviewer id."""
    rows = []
    for r in np.unique(reviewer[is_decoy]):
        mine = rating[is_decoy & (reviewer == r)]
        accepted = int((mine >= ACCEPTED_RATING).sum())
        rows.append(DecoyAcceptance(int(r), accepted, int(mine.size), accepted / mine.size))
    return rows


@dataclass(frozen=True)
class Dispute:
    """How much the reviewers of one item disagree."""

    unit: int
    n: int
    mean: float
    variance: float
    """Population variance of the ratings."""
    spread: int
    """Highest minus lowest rating."""


def most_disputed(unit: np.ndarray, rating: np.ndarray, limit: int) -> list[Dispute]:
    """Items whose >= 2 ratings differ, highest variance first, then widest range, then most
    ratings, then lowest unit id (so the order is total)."""
    units, codes = np.unique(unit, return_inverse=True)
    n = np.bincount(codes)
    total = np.bincount(codes, rating)
    mean = total / n
    variance = np.bincount(codes, rating.astype(float) ** 2) / n - mean**2
    high = np.full(units.size, -np.inf)
    low = np.full(units.size, np.inf)
    np.maximum.at(high, codes, rating)
    np.minimum.at(low, codes, rating)
    spread = high - low
    keep = np.flatnonzero((n >= 2) & (spread > 0))
    variance = np.round(variance, 12)
    order = np.lexsort((units[keep], -n[keep], -spread[keep], -variance[keep]))[:limit]
    return [
        Dispute(int(units[i]), int(n[i]), float(mean[i]), float(variance[i]), int(spread[i]))
        for i in keep[order]
    ]


@dataclass(frozen=True)
class RatedUnit:
    """One real item's mean rating beside its label's F1: a pair Spearman's rho rests on."""

    unit: int
    mean: float
    n: int
    """Ratings averaged."""
    f1: float


# A whole campaign ----------------------------------------------------------------------------

MEANINGFUL_ANSWERS = ("yes", "no", "unsure")


@dataclass(frozen=True)
class Ratings:
    """A campaign's submitted ratings as parallel arrays, one entry per rating.

    `unit` numbers items 0..n_units-1; `meaningful` holds an index into MEANINGFUL_ANSWERS or -1
    when unanswered; `is_decoy` and `f1` are per unit (`f1` NaN where the label has no score).
    """

    unit: np.ndarray
    reviewer: np.ndarray
    rating: np.ndarray
    meaningful: np.ndarray
    is_decoy: np.ndarray
    f1: np.ndarray


@dataclass(frozen=True)
class Summary:
    """Everything the results page shows about agreement, in numbers."""

    n_ratings: int
    alpha: Interval
    kappa: list[PairKappa]
    fleiss: Interval
    decoys: list[DecoyAcceptance]
    rating_vs_f1: Interval
    rating_f1_pairs: list[RatedUnit]
    """The (mean rating, F1) pairs of rho, by unit."""
    disputed: list[Dispute]


def summarise(
    ratings: Ratings,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    weighting: Weighting = "quadratic",
    disputed_limit: int = 20,
) -> Summary:
    """All statistics of a campaign. Agreement and disputes use real (non-decoy) items only;
    Spearman's rho pairs each real item's mean rating with its label's F1."""
    rng = np.random.default_rng(seed)
    n_units = ratings.is_decoy.size
    real = ~ratings.is_decoy[ratings.unit]
    unit, reviewer, rating = ratings.unit[real], ratings.reviewer[real], ratings.rating[real]
    real_units = np.flatnonzero(~ratings.is_decoy)
    weights = np.zeros((n_units, n_boot), dtype=np.float32)
    weights[real_units] = bootstrap_weights(real_units.size, n_boot, rng)

    counts = unit_value_counts(unit, rating, n_units)
    pairable = np.flatnonzero(counts.sum(1) >= 2)
    alpha = _interval(
        krippendorff_alpha(counts[pairable]),
        alpha_replicates(counts[pairable], weights[pairable]),
        pairable.size,
    )

    answered = real & (ratings.meaningful >= 0)
    answers = np.zeros((n_units, len(MEANINGFUL_ANSWERS)))
    np.add.at(answers, (ratings.unit[answered], ratings.meaningful[answered]), 1)
    judged = np.flatnonzero(answers.sum(1) >= 2)
    fleiss = _interval(
        fleiss_kappa(answers[judged]),
        fleiss_replicates(answers[judged], weights[judged]),
        judged.size,
    )

    rated = np.flatnonzero(counts.sum(1) >= 1)
    n_rated = counts[rated].sum(1)
    means = (counts[rated] @ SCALE) / n_rated
    scored = np.isfinite(ratings.f1[rated])
    keep = rated[scored]
    rho = spearman(means[scored], ratings.f1[keep], weights[keep])
    pairs = [
        RatedUnit(int(u), float(mean), int(n), float(ratings.f1[u]))
        for u, mean, n in zip(keep, means[scored], n_rated[scored], strict=True)
    ]

    decoy = ratings.is_decoy[ratings.unit]
    return Summary(
        n_ratings=int(ratings.unit.size),
        alpha=alpha,
        kappa=pairwise_kappa(unit, reviewer, rating, weights, weighting),
        fleiss=fleiss,
        decoys=decoy_acceptance(ratings.reviewer, ratings.rating, decoy),
        rating_vs_f1=rho,
        rating_f1_pairs=pairs,
        disputed=most_disputed(unit, rating, disputed_limit),
    )
