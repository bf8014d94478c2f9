"""Streaming per-feature statistics over a corpus in one pass, each batch encoded once for all.

Per feature: active count, sum, max, a log-spaced activation histogram, the top-K activations with
their token ids, and a bounded uniform sample of active (value, token id) pairs (bottom-k sampling
with a hashed key, so the sample does not depend on batch order or sharding). State is
O(d_sae · (K + S + bins)) whatever the corpus size; shards merge exactly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from sae.topkeep import EMPTY_KEY, TopKeeper

_MASK32 = 0xFFFFFFFF


class FeatureStatisticsResult(NamedTuple):
    """Everything `FeatureStatistics` measured, as tensors indexed by feature."""

    n_tokens: int
    """Tokens seen (active or not) across all batches."""
    count: torch.Tensor
    """(F,) int64 number of tokens where the feature was active (> 0)."""
    frequency: torch.Tensor
    """(F,) float64 count / n_tokens (0 when no tokens were seen)."""
    sum: torch.Tensor
    """(F,) float64 sum of activations."""
    mean_active: torch.Tensor
    """(F,) float64 sum / count over active tokens (0 for features that never fired)."""
    max: torch.Tensor
    """(F,) float32 largest activation (0 for features that never fired)."""
    histogram: torch.Tensor
    """(F, n_bins + 2) int64: column 0 counts active values below edges[0] (underflow), columns
    1..n_bins count edges[i-1] <= v < edges[i], the last column counts v >= edges[-1] (overflow)."""
    histogram_edges: torch.Tensor
    """(n_bins + 1,) float32 log-spaced bin edges in SAE activation units."""
    top_values: torch.Tensor
    """(F, K) float32 largest activations, descending; 0 in unused slots."""
    top_token_ids: torch.Tensor
    """(F, K) int64 global token ids of `top_values`; -1 in unused slots."""
    sample_values: torch.Tensor
    """(F, S) float32 uniform sample of active values (all of them when count <= S); 0 unused."""
    sample_token_ids: torch.Tensor
    """(F, S) int64 token ids of `sample_values`; -1 in unused slots. Slot order is random."""


def log_edges(n_bins: int = 64, low: float = 1e-3, high: float = 1e3) -> torch.Tensor:
    """(n_bins + 1,) float32 edges spaced evenly in log10 between `low` and `high`."""
    if n_bins < 1 or not 0 < low < high:
        raise ValueError(f"need n_bins >= 1 and 0 < low < high, got {n_bins}, {low}, {high}")
    return torch.logspace(
        math.log10(low), math.log10(high), n_bins + 1, dtype=torch.float64
    ).float()


def sample_keys(token_ids: torch.Tensor, features: torch.Tensor, salt: int) -> torch.Tensor:
    """(M,) int64 pseudo-random keys in [0, 2**32) from (token id, feature, salt), vectorised."""
    low = token_ids & _MASK32
    high = (token_ids >> 32) & _MASK32
    key = _mix32(low ^ (salt & _MASK32))
    key = _mix32(key ^ high)
    return _mix32(key ^ (features & _MASK32))


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer finaliser (products stay below 2**59, so int64 never overflows)."""
    x = x ^ (x >> 16)
    x = (x * 0x45D9F3B) & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x45D9F3B) & _MASK32
    return x ^ (x >> 16)


class FeatureStatistics:
    """One-pass streaming statistics for `n_features` SAE features.

    Call `update(acts, token_ids)` for every batch of encoded tokens (the caller encodes once),
    `merge(other)` to combine shards, `compute()` for a `FeatureStatisticsResult`.
    """

    def __init__(
        self,
        n_features: int,
        top_k: int = 64,
        sample_size: int = 256,
        edges: torch.Tensor | None = None,
        salt: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.n_features = n_features
        self.top_k = top_k
        self.sample_size = sample_size
        self.salt = salt
        self.edges = (log_edges() if edges is None else edges.float()).to(device)
        if self.edges.dim() != 1 or bool((self.edges[1:] <= self.edges[:-1]).any()):
            raise ValueError("histogram edges must be a 1-D increasing tensor")
        self.n_tokens = 0
        self.count = torch.zeros(n_features, dtype=torch.int64, device=device)
        self.sum = torch.zeros(n_features, dtype=torch.float64, device=device)
        self.max = torch.zeros(n_features, dtype=torch.float32, device=device)
        self.histogram = torch.zeros(
            n_features, self.edges.numel() + 1, dtype=torch.int64, device=device
        )
        self.top = TopKeeper(n_features, top_k, {"token_ids": (torch.int64, -1)}, device)
        self.sample = TopKeeper(
            n_features,
            sample_size,
            {"values": (torch.float32, 0.0), "token_ids": (torch.int64, -1)},
            device,
        )

    @torch.no_grad()
    def update(self, acts: torch.Tensor, token_ids: torch.Tensor) -> None:
        """acts (N, F) dense float activations (>= 0, finite); token_ids (N,) int64 global ids."""
        if acts.dim() != 2 or acts.shape[1] != self.n_features:
            raise ValueError(
                f"expected (N, {self.n_features}) activations, got {tuple(acts.shape)}"
            )
        if token_ids.shape != (acts.shape[0],):
            raise ValueError(f"expected ({acts.shape[0]},) token ids, got {tuple(token_ids.shape)}")
        self.n_tokens += acts.shape[0]
        flat = acts.reshape(-1)
        positions = flat.nonzero().squeeze(1)
        if positions.numel() == 0:
            return
        values = flat[positions].float()
        rows = positions // self.n_features
        features = positions - rows * self.n_features
        tokens = token_ids.to(acts.device, torch.int64)[rows]
        self.count += torch.bincount(features, minlength=self.n_features)
        self.sum.index_add_(0, features, values.double())
        self.max.scatter_reduce_(0, features, values, reduce="amax")
        bins = torch.bucketize(values, self.edges, right=True)
        self.histogram.view(-1).index_add_(
            0, features * self.histogram.shape[1] + bins, torch.ones_like(bins)
        )
        # Positive float32 bit patterns order like the values, so they serve as int64 keys.
        self.top.offer(features, values.view(torch.int32).long(), {"token_ids": tokens})
        self.sample.offer(
            features,
            sample_keys(tokens, features, self.salt),
            {"values": values, "token_ids": tokens},
        )

    def merge(self, other: FeatureStatistics) -> None:
        """Add another shard's statistics (disjoint token ids) into this one."""
        same = (
            other.n_features == self.n_features
            and other.top_k == self.top_k
            and other.sample_size == self.sample_size
            and other.salt == self.salt
            and torch.equal(other.edges.cpu(), self.edges.cpu())
        )
        if not same:
            raise ValueError(
                "cannot merge statistics with different features, sizes, salt or edges"
            )
        self.n_tokens += other.n_tokens
        self.count += other.count.to(self.count.device)
        self.sum += other.sum.to(self.sum.device)
        torch.maximum(self.max, other.max.to(self.max.device), out=self.max)
        self.histogram += other.histogram.to(self.histogram.device)
        self.top.absorb(other.top)
        self.sample.absorb(other.sample)

    def compute(self) -> FeatureStatisticsResult:
        """The statistics so far (copies; updating afterwards does not change them)."""
        self.top.compact()
        self.sample.compact()
        used_top = self.top.keys != EMPTY_KEY
        top_values = torch.where(
            used_top,
            self.top.keys.int().view(torch.float32),
            torch.zeros((), device=used_top.device),
        )
        count = self.count.clone()
        return FeatureStatisticsResult(
            n_tokens=self.n_tokens,
            count=count,
            frequency=count.double() / max(self.n_tokens, 1),
            sum=self.sum.clone(),
            mean_active=self.sum / count.clamp_min(1),
            max=self.max.clone(),
            histogram=self.histogram.clone(),
            histogram_edges=self.edges.clone(),
            top_values=top_values,
            top_token_ids=self.top.payloads["token_ids"].clone(),
            sample_values=self.sample.payloads["values"].clone(),
            sample_token_ids=self.sample.payloads["token_ids"].clone(),
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors that restore this object with `load_state_dict` (for resumable runs)."""
        state = {
            "config": torch.tensor([self.n_features, self.top_k, self.sample_size, self.salt]),
            "n_tokens": torch.tensor(self.n_tokens),
            "edges": self.edges.clone(),
            "count": self.count.clone(),
            "sum": self.sum.clone(),
            "max": self.max.clone(),
            "histogram": self.histogram.clone(),
        }
        state.update(self.top.state_dict("top."))
        state.update(self.sample.state_dict("sample."))
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore from `state_dict()`; the sizes, salt and edges must match this object's."""
        config = [self.n_features, self.top_k, self.sample_size, self.salt]
        if state["config"].tolist() != config or not torch.equal(
            state["edges"].cpu(), self.edges.cpu()
        ):
            raise ValueError(
                f"saved statistics have config {state['config'].tolist()}, expected {config} "
                "(n_features, top_k, sample_size, salt) and the same histogram edges"
            )
        self.n_tokens = int(state["n_tokens"])
        for name in ("count", "sum", "max", "histogram"):
            getattr(self, name).copy_(state[name])
        self.top.load_state_dict(state, "top.")
        self.sample.load_state_dict(state, "sample.")
