"""Compact per-token storage of encoded features: the top-k (index, value) pairs of each token."""

from __future__ import annotations

from typing import NamedTuple

import torch


class SparseCodes(NamedTuple):
    """The `k` largest feature activations of each token; unused slots hold value 0."""

    indices: torch.Tensor
    """(N, k) int32 feature indices, largest activation first."""
    values: torch.Tensor
    """(N, k) activations (0 where the token had fewer than k active features)."""


def to_sparse(acts: torch.Tensor, k: int, dtype: torch.dtype = torch.float16) -> SparseCodes:
    """(N, d_sae) dense activations -> SparseCodes keeping each token's `k` largest.

    In threshold mode a token may have more than `k` active features; those beyond the largest
    `k` are dropped. `active_counts(acts)` tells how many a choice of `k` would drop.
    """
    k = min(k, acts.shape[1])
    top = acts.topk(k, dim=1)
    values = top.values.clamp_min(0).to(dtype)
    return SparseCodes(top.indices.to(torch.int32), values)


def to_dense(codes: SparseCodes, d_sae: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """SparseCodes -> (N, d_sae) dense activations (zero slots add nothing)."""
    n_tokens = codes.indices.shape[0]
    dense = torch.zeros(n_tokens, d_sae, dtype=dtype, device=codes.values.device)
    return dense.scatter_add_(1, codes.indices.long(), codes.values.to(dtype))


def active_counts(acts: torch.Tensor) -> torch.Tensor:
    """(N, d_sae) -> (N,) int64 number of active (> 0) features per token, i.e. the L0."""
    return (acts > 0).sum(dim=1)
