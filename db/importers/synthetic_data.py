"""Numpy generators of synthetic SAE dashboards: statistics, neighbours, scores, examples.

Distributions (chosen to look like MAIRA-2's SAEs and the paper's numbers):
- frequency: log-normal (sigma 1.5 in natural log) with mean k/d_sae capped at 2%, clipped to 0.5;
  DEAD_SHARE of features never fire (frequency 0, no statistics, examples or explanation);
- max activation: log-normal around 8; mean activation 15-35% of it; histogram over 32 log-spaced
  bins from max/100 to max, a Gaussian bump in log space around the mean;
- held-out detection F1: logit-normal (mu 0.05, sigma 0.5), which puts 46% below 0.5 and 1.8% above
  0.75; train F1 is higher (in-sample); precision and recall solve 2pr/(p+r) = F1 with p >= 0.5 on a
  balanced set, so accuracy = balanced accuracy = (recall + 1 - fp/N) / 2;
- decoder neighbours: random distinct other features with descending Beta-distributed cosines
  (no decoder matrix is built);
- example values: peaked at one token of the window and decaying exponentially on both sides, values
  under 10% of the peak set to 0; top examples' peaks decrease with rank from the feature's max,
  interval examples' peaks are uniform inside their bucket of linspace(0, max, buckets + 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEAD_SHARE = 0.03
HISTOGRAM_BINS = 32
INTERVAL_BUCKETS = 5
PER_BUCKET = 4
F1_LOGIT_MEAN = 0.05
F1_LOGIT_SD = 0.5
HELDOUT_N = 50
TRAIN_N = 40
GROUP_FRACTIONS = (1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 16)


def group_sizes(n_features: int) -> list[int]:
    """Matryoshka group sizes for fractions 1/2, 1/4, 1/8, 1/16, 1/16 (last takes the rest)."""
    sizes = [int(n_features * fraction) for fraction in GROUP_FRACTIONS[:-1]]
    sizes.append(n_features - sum(sizes))
    return [size for size in sizes if size > 0]


@dataclass
class FeatureStats:
    """Per-feature statistics; dead features have n_active 0 and NaN max/mean."""

    live: np.ndarray
    n_active: np.ndarray
    frequency: np.ndarray
    max_activation: np.ndarray
    mean_activation: np.ndarray
    histogram_edges: np.ndarray
    histogram_counts: np.ndarray


def feature_stats(
    rng: np.random.Generator, n_features: int, n_tokens: int, min_active: int, k: int
) -> FeatureStats:
    """Heavy-tailed activation statistics for `n_features` features over `n_tokens` tokens."""
    sigma = 1.5
    mean_frequency = min(k / n_features, 0.02)
    frequency = np.minimum(
        rng.lognormal(np.log(mean_frequency) - sigma**2 / 2, sigma, n_features), 0.5
    )
    live = np.ones(n_features, dtype=bool)
    live[rng.choice(n_features, size=round(DEAD_SHARE * n_features), replace=False)] = False
    n_active = np.where(live, np.maximum(np.round(frequency * n_tokens), min_active), 0)
    n_active = n_active.astype(np.int64)
    max_activation = rng.lognormal(np.log(8.0), 0.5, n_features)
    mean_activation = max_activation * rng.uniform(0.15, 0.35, n_features)
    edges = max_activation[:, None] * np.geomspace(0.01, 1.0, HISTOGRAM_BINS + 1)[None, :]
    centres = np.log(np.sqrt(edges[:, :-1] * edges[:, 1:]))
    weights = np.exp(-((centres - np.log(mean_activation)[:, None]) ** 2) / (2 * 0.8**2))
    weights /= weights.sum(axis=1, keepdims=True)
    counts = np.floor(weights * n_active[:, None]).astype(np.int64)
    counts[np.arange(n_features), weights.argmax(axis=1)] += n_active - counts.sum(axis=1)
    return FeatureStats(
        live=live,
        n_active=n_active,
        frequency=n_active / n_tokens,
        max_activation=np.where(live, max_activation, np.nan),
        mean_activation=np.where(live, mean_activation, np.nan),
        histogram_edges=edges.astype(np.float32),
        histogram_counts=counts,
    )


def random_neighbours(
    rng: np.random.Generator, n_features: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosines) of shape (n_features, n): distinct other features, descending cosines."""
    n = min(n, n_features - 1)
    offsets = np.sort(rng.integers(1, n_features, size=(n_features, n)), axis=1)
    repeated = np.flatnonzero((np.diff(offsets, axis=1) == 0).any(axis=1))
    for row in repeated:
        offsets[row] = np.sort(rng.choice(np.arange(1, n_features), size=n, replace=False))
    rng.permuted(offsets, axis=1, out=offsets)
    indices = (np.arange(n_features)[:, None] + offsets) % n_features
    cosines = -np.sort(-(0.05 + 0.85 * rng.beta(1.5, 6.0, size=(n_features, n))), axis=1)
    return indices.astype(np.int32), cosines.astype(np.float32)


@dataclass
class Scores:
    """Detection metrics of one split, one entry per explanation."""

    accuracy: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    n: int


def _metrics_for_f1(rng: np.random.Generator, f1: np.ndarray, n: int) -> Scores:
    low = np.maximum(0.5, f1 / (2 - f1))
    precision = rng.uniform(low, 1.0)
    recall = np.minimum(f1 * precision / (2 * precision - f1), 1.0)
    false_positive_rate = recall * (1 - precision) / precision
    accuracy = (recall + 1 - false_positive_rate) / 2
    return Scores(accuracy, precision, recall, f1, n)


def detection_scores(rng: np.random.Generator, n: int) -> tuple[Scores, Scores]:
    """(train, heldout) detection scores of `n` explanations."""
    logits = rng.normal(F1_LOGIT_MEAN, F1_LOGIT_SD, n)
    heldout_f1 = 1 / (1 + np.exp(-logits))
    train_f1 = 1 / (1 + np.exp(-(logits + 0.4 + rng.normal(0, 0.3, n))))
    return _metrics_for_f1(rng, train_f1, TRAIN_N), _metrics_for_f1(rng, heldout_f1, HELDOUT_N)


@dataclass
class Examples:
    """Examples of one kind, row-aligned; `values` is flat float32, `end - start` per row."""

    feature: np.ndarray
    rank: np.ndarray
    document: np.ndarray
    start: np.ndarray
    end: np.ndarray
    max_value: np.ndarray
    max_position: np.ndarray
    values: np.ndarray
    bin_min: np.ndarray | None = None
    bin_max: np.ndarray | None = None
    bin_share: np.ndarray | None = None


def _windows(
    rng: np.random.Generator,
    feature: np.ndarray,
    rank: np.ndarray,
    peak: np.ndarray,
    document_lengths: np.ndarray,
    tokens: int,
) -> Examples:
    n = len(feature)
    document = rng.integers(len(document_lengths), size=n)
    length = np.minimum(tokens, document_lengths[document])
    start = (rng.random(n) * (document_lengths[document] - length + 1)).astype(np.int64)
    offset = (rng.random(n) * length).astype(np.int64)
    position = np.arange(tokens)[None, :]
    decay = rng.uniform(0.5, 3.0, n)[:, None]
    values = peak[:, None] * np.exp(-np.abs(position - offset[:, None]) / decay)
    values[values < 0.1 * peak[:, None]] = 0.0
    values = values.astype("<f4")[position < length[:, None]]
    return Examples(
        feature=feature,
        rank=rank,
        document=document,
        start=start,
        end=start + length,
        max_value=peak.astype(np.float32).astype(np.float64),
        max_position=start + offset,
        values=values,
    )


def top_examples(
    rng: np.random.Generator,
    features: np.ndarray,
    max_activation: np.ndarray,
    per_feature: int,
    document_lengths: np.ndarray,
    tokens: int,
) -> Examples:
    """`per_feature` top examples of each feature, rank 0 at the feature's max activation."""
    feature = np.repeat(features, per_feature)
    rank = np.tile(np.arange(per_feature), len(features))
    decline = 1 - 0.6 * (rank / max(per_feature, 1)) ** 0.7
    peak = max_activation[feature] * decline
    return _windows(rng, feature, rank, peak, document_lengths, tokens)


def interval_examples(
    rng: np.random.Generator,
    features: np.ndarray,
    max_activation: np.ndarray,
    document_lengths: np.ndarray,
    tokens: int,
) -> Examples:
    """PER_BUCKET examples in each of INTERVAL_BUCKETS linear activation intervals per feature."""
    per_feature = INTERVAL_BUCKETS * PER_BUCKET
    feature = np.repeat(features, per_feature)
    slot = np.tile(np.arange(per_feature), len(features))
    bucket, rank = slot // PER_BUCKET, slot % PER_BUCKET
    width = max_activation[feature] / INTERVAL_BUCKETS
    bin_min, bin_max = bucket * width, (bucket + 1) * width
    peak = bin_min + width * rng.uniform(0.05, 1.0, len(feature))
    shares = np.exp(-0.8 * np.arange(INTERVAL_BUCKETS))[None, :] * rng.uniform(
        0.7, 1.3, (len(features), INTERVAL_BUCKETS)
    )
    shares /= shares.sum(axis=1, keepdims=True)
    examples = _windows(rng, feature, rank, peak, document_lengths, tokens)
    examples.bin_min, examples.bin_max = bin_min, bin_max
    examples.bin_share = shares.reshape(-1)[
        np.repeat(np.arange(len(features)), per_feature) * INTERVAL_BUCKETS + bucket
    ]
    return examples
