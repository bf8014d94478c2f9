"""FeatureStatistics against brute-force per-feature computations on random sparse data."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.testing import assert_close

from sae.buckets import interval_buckets, rank_buckets
from sae.stats import FeatureStatistics, FeatureStatisticsResult, log_edges, sample_keys

N_TOKENS, N_FEATURES, TOP_K, SAMPLE = 400, 30, 8, 16


def _sparse_acts(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, F) activations spanning 1e-5..1e5 with per-feature densities from 0 to ~0.9."""
    generator = torch.Generator().manual_seed(seed)
    density = torch.linspace(0, 0.9, N_FEATURES) ** 2
    density[3] = 0.01  # fires a handful of times: fewer than TOP_K and SAMPLE
    active = torch.rand(N_TOKENS, N_FEATURES, generator=generator) < density
    magnitude = torch.exp(torch.randn(N_TOKENS, N_FEATURES, generator=generator) * 4)
    token_ids = 10_000 + 3 * torch.arange(N_TOKENS, dtype=torch.int64)
    return magnitude * active, token_ids


def _run(acts, token_ids, batch=37, pending_limit=None, salt=0) -> FeatureStatistics:
    stats = FeatureStatistics(N_FEATURES, top_k=TOP_K, sample_size=SAMPLE, salt=salt)
    if pending_limit:
        stats.top.pending_limit = stats.sample.pending_limit = pending_limit
    for start in range(0, acts.shape[0], batch):
        stats.update(acts[start : start + batch], token_ids[start : start + batch])
    return stats


def _brute_force(acts: torch.Tensor, token_ids: torch.Tensor, salt: int = 0) -> dict:
    edges = log_edges()
    expected: dict = {"top_values": [], "top_ids": [], "hist": [], "sample": []}
    for feature in range(N_FEATURES):
        column = acts[:, feature]
        rows = [row for row in range(N_TOKENS) if column[row] > 0]
        by_value = sorted(rows, key=lambda row: (-float(column[row]), row))[:TOP_K]
        pad = TOP_K - len(by_value)
        expected["top_values"].append([float(column[row]) for row in by_value] + [0.0] * pad)
        expected["top_ids"].append([int(token_ids[row]) for row in by_value] + [-1] * pad)
        histogram = [0] * (edges.numel() + 1)
        for row in rows:
            histogram[sum(int(column[row] >= edge) for edge in edges)] += 1
        expected["hist"].append(histogram)
        keys = sample_keys(token_ids[rows], torch.full((len(rows),), feature), salt).tolist()
        by_key = sorted(zip(keys, rows, strict=True), key=lambda item: -item[0])[:SAMPLE]
        expected["sample"].append({(int(token_ids[row]), float(column[row])) for _, row in by_key})
    return expected


def _sample_pairs(result: FeatureStatisticsResult, feature: int) -> set[tuple[int, float]]:
    ids, values = result.sample_token_ids[feature], result.sample_values[feature]
    return {(int(i), float(v)) for i, v in zip(ids, values, strict=True) if i >= 0}


@pytest.mark.parametrize("pending_limit", [None, 7])
def test_one_pass_equals_brute_force(pending_limit: int | None) -> None:
    acts, token_ids = _sparse_acts()
    result = _run(acts, token_ids, pending_limit=pending_limit).compute()
    expected = _brute_force(acts, token_ids)
    assert result.n_tokens == N_TOKENS
    assert torch.equal(result.count, (acts > 0).sum(0))
    assert_close(result.sum, acts.double().sum(0), rtol=1e-12, atol=0)
    assert torch.equal(result.max, acts.amax(0))
    assert_close(result.frequency, (acts > 0).double().mean(0))
    assert torch.equal(result.histogram, torch.tensor(expected["hist"]))
    assert int(result.histogram[:, 0].sum()) > 0 and int(result.histogram[:, -1].sum()) > 0
    assert torch.equal(result.top_values, torch.tensor(expected["top_values"]))
    assert torch.equal(result.top_token_ids, torch.tensor(expected["top_ids"]))
    for feature in range(N_FEATURES):
        assert _sample_pairs(result, feature) == expected["sample"][feature]
        assert len(_sample_pairs(result, feature)) == min(SAMPLE, int(result.count[feature]))


def _assert_same(left: FeatureStatisticsResult, right: FeatureStatisticsResult) -> None:
    for name, a, b in zip(left._fields, left, right, strict=True):
        if name in ("sum", "mean_active"):
            assert_close(a, b, rtol=1e-12, atol=0)
        elif isinstance(a, torch.Tensor):
            assert torch.equal(a, b), name
        else:
            assert a == b, name


def test_merge_of_two_halves_equals_one_pass() -> None:
    acts, token_ids = _sparse_acts(seed=1)
    one_pass = _run(acts, token_ids).compute()
    first = _run(acts[:150], token_ids[:150], batch=50)
    second = _run(acts[150:], token_ids[150:], batch=64)
    first.merge(second)
    _assert_same(first.compute(), one_pass)


def test_state_dict_resumes_exactly() -> None:
    acts, token_ids = _sparse_acts(seed=2)
    one_pass = _run(acts, token_ids, batch=100).compute()
    partial = _run(acts[:200], token_ids[:200], batch=100)
    resumed = FeatureStatistics(N_FEATURES, top_k=TOP_K, sample_size=SAMPLE)
    resumed.load_state_dict(partial.state_dict())
    for start in (200, 300):
        resumed.update(acts[start : start + 100], token_ids[start : start + 100])
    _assert_same(resumed.compute(), one_pass)
    with pytest.raises(ValueError, match="config"):
        FeatureStatistics(N_FEATURES, top_k=TOP_K + 1).load_state_dict(partial.state_dict())
    with pytest.raises(ValueError, match="cannot merge"):
        partial.merge(FeatureStatistics(N_FEATURES, top_k=TOP_K, sample_size=SAMPLE, salt=5))


def test_sample_is_uniform_over_active_tokens() -> None:
    """Across salts every active token of a feature is sampled about S/count of the time."""
    acts, token_ids = _sparse_acts(seed=3)
    feature = N_FEATURES - 1
    active_ids = token_ids[acts[:, feature] > 0]
    hits = torch.zeros(len(active_ids))
    n_salts = 300
    for salt in range(n_salts):
        stats = FeatureStatistics(N_FEATURES, top_k=TOP_K, sample_size=SAMPLE, salt=salt)
        stats.update(acts, token_ids)
        sampled = stats.compute().sample_token_ids[feature]
        hits += torch.isin(active_ids, sampled).float()
    rate = SAMPLE / len(active_ids)
    assert_close(hits.mean() / n_salts, torch.tensor(rate), rtol=1e-6, atol=0)
    order = acts[acts[:, feature] > 0, feature].argsort()
    low_half, high_half = hits[order[: len(order) // 2]], hits[order[len(order) // 2 :]]
    # Inclusion does not depend on the value: both halves sit near the expected rate.
    expected = rate * n_salts
    assert abs(float(low_half.mean()) - expected) < 0.1 * expected
    assert abs(float(high_half.mean()) - expected) < 0.1 * expected


def test_update_rejects_bad_shapes() -> None:
    stats = FeatureStatistics(N_FEATURES)
    with pytest.raises(ValueError, match="activations"):
        stats.update(torch.zeros(4, N_FEATURES + 1), torch.arange(4))
    with pytest.raises(ValueError, match="token ids"):
        stats.update(torch.zeros(4, N_FEATURES), torch.arange(5))


def test_interval_buckets_match_brute_force() -> None:
    acts, token_ids = _sparse_acts(seed=4)
    result = _run(acts, token_ids).compute()
    buckets = interval_buckets(result, n_intervals=4, per_bucket=3)
    by_token = dict(zip(token_ids.tolist(), range(N_TOKENS), strict=True))
    for feature in range(N_FEATURES):
        count = int(result.count[feature])
        if count == 0:
            assert float(buckets.share[feature].sum()) == 0.0
            continue
        maximum = float(result.max[feature])
        assert float(buckets.bin_max[feature, -1]) == maximum
        assert float(buckets.bin_min[feature, 0]) == 0.0
        assert_close(float(buckets.share[feature].sum()), 1.0)
        if count <= SAMPLE:  # the sample is every active token, so shares are exact
            column = acts[:, feature]
            active = column[column > 0]
            for interval in range(4):
                low, high = buckets.bin_min[feature, interval], buckets.bin_max[feature, interval]
                inside = ((active > low) & (active <= high)).double().mean()
                assert_close(buckets.share[feature, interval], inside)
        for interval in range(4):
            low, high = buckets.bin_min[feature, interval], buckets.bin_max[feature, interval]
            for token, value in zip(
                buckets.token_ids[feature, interval], buckets.values[feature, interval], strict=True
            ):
                if token < 0:
                    continue
                assert low < value <= high
                assert float(acts[by_token[int(token)], feature]) == float(value)


def test_rank_buckets_are_ordered() -> None:
    acts, token_ids = _sparse_acts(seed=5)
    result = _run(acts, token_ids).compute()
    deciles = rank_buckets(result, n_buckets=4, per_bucket=2)
    feature = N_FEATURES - 1
    values = deciles.values[feature]
    assert bool((values > 0).all())
    for upper, lower in itertools.pairwise(values):
        assert float(upper.min()) >= float(lower.max())
