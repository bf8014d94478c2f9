"""Example buckets from a statistics result: linear activation intervals and rank quantiles."""

from __future__ import annotations

from typing import NamedTuple

import torch

from sae.stats import FeatureStatisticsResult


class IntervalBuckets(NamedTuple):
    """SAEDashboard/sae_vis-style intervals `linspace(0, max, n + 1)`, over active tokens only."""

    bin_min: torch.Tensor
    """(F, n) float32 lower edges; a bucket holds values with bin_min < v <= bin_max."""
    bin_max: torch.Tensor
    """(F, n) float32 upper edges (the last one is the feature's max)."""
    share: torch.Tensor
    """(F, n) float64 share of the feature's active tokens in the interval, estimated from the
    uniform sample (exact when the feature fired at most sample-size times); 0 if it never fired."""
    token_ids: torch.Tensor
    """(F, n, m) int64 up to m sampled token ids per bucket, in random order; -1 pads."""
    values: torch.Tensor
    """(F, n, m) float32 the activations of `token_ids`; 0 pads."""


class RankBuckets(NamedTuple):
    """Equal-count rank bins of the sampled activations (delphi's "quantiles"); bucket 0 = top."""

    token_ids: torch.Tensor
    """(F, n, m) int64 up to m sampled token ids per rank bin, in random order; -1 pads."""
    values: torch.Tensor
    """(F, n, m) float32 the activations of `token_ids`; 0 pads."""


def interval_buckets(
    result: FeatureStatisticsResult, n_intervals: int = 5, per_bucket: int = 5, chunk: int = 1024
) -> IntervalBuckets:
    """Split each feature's (0, max] into `n_intervals` equal intervals and sample examples."""
    n_features = result.max.shape[0]
    fractions = torch.linspace(0, 1, n_intervals + 1)
    edges = result.max[:, None].float() * fractions[None, :]
    share = torch.zeros(n_features, n_intervals, dtype=torch.float64)
    token_ids = torch.full((n_features, n_intervals, per_bucket), -1, dtype=torch.int64)
    values = torch.zeros(n_features, n_intervals, per_bucket)
    for start in range(0, n_features, chunk):
        end = min(start + chunk, n_features)
        sample = result.sample_values[start:end]
        valid = result.sample_token_ids[start:end] >= 0
        scaled = sample / result.max[start:end, None].clamp_min(torch.finfo(torch.float32).tiny)
        bucket = (torch.ceil(scaled * n_intervals).long() - 1).clamp(0, n_intervals - 1)
        counts = _pick(
            bucket,
            valid,
            result.sample_token_ids[start:end],
            sample,
            token_ids[start:end],
            values[start:end],
        )
        share[start:end] = counts.double() / valid.sum(1, keepdim=True).clamp_min(1)
    return IntervalBuckets(edges[:, :-1], edges[:, 1:], share, token_ids, values)


def rank_buckets(
    result: FeatureStatisticsResult, n_buckets: int = 10, per_bucket: int = 4
) -> RankBuckets:
    """Split each feature's sampled active values into `n_buckets` equal-count rank bins."""
    n_features = result.max.shape[0]
    valid = result.sample_token_ids >= 0
    ranked = torch.where(valid, result.sample_values, -torch.inf)
    rank = torch.argsort(torch.argsort(ranked, dim=1, descending=True, stable=True), dim=1)
    n_valid = valid.sum(1, keepdim=True).clamp_min(1)
    bucket = (rank * n_buckets) // n_valid
    token_ids = torch.full((n_features, n_buckets, per_bucket), -1, dtype=torch.int64)
    values = torch.zeros(n_features, n_buckets, per_bucket)
    _pick(bucket, valid, result.sample_token_ids, result.sample_values, token_ids, values)
    return RankBuckets(token_ids, values)


def _pick(
    bucket: torch.Tensor,
    valid: torch.Tensor,
    sample_ids: torch.Tensor,
    sample_values: torch.Tensor,
    out_ids: torch.Tensor,
    out_values: torch.Tensor,
) -> torch.Tensor:
    """Copy the first m valid slots of each bucket into out_* (F, n, m); return (F, n) counts.

    bucket, valid, sample_*: (F, S). Slots are taken in slot order, which is random.
    """
    n_buckets, per_bucket = out_ids.shape[1], out_ids.shape[2]
    bucket = torch.where(valid, bucket, n_buckets)
    one_hot = torch.nn.functional.one_hot(bucket, n_buckets + 1)
    rank = one_hot.cumsum(1).gather(2, bucket[..., None]).squeeze(2) - 1
    chosen = valid & (rank < per_bucket)
    rows = torch.arange(bucket.shape[0])[:, None].expand_as(bucket)
    out_ids[rows[chosen], bucket[chosen], rank[chosen]] = sample_ids[chosen]
    out_values[rows[chosen], bucket[chosen], rank[chosen]] = sample_values[chosen]
    return one_hot.sum(1)[:, :n_buckets]
