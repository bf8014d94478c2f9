"""Decoder-cosine nearest neighbours of every feature, in row chunks with bounded memory."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Neighbours(NamedTuple):
    """The `n` most similar other features of every feature, most similar first."""

    indices: torch.Tensor
    """(d_sae, n) int64 feature indices; a feature is never its own neighbour."""
    cosines: torch.Tensor
    """(d_sae, n) float32 cosine similarity between decoder rows."""


@torch.no_grad()
def decoder_neighbours(W_dec: torch.Tensor, n: int = 16, chunk_size: int = 1024) -> Neighbours:
    """W_dec (d_sae, d_in) -> the `n` nearest rows of each row by cosine similarity.

    Works through `chunk_size` rows at a time, so the extra memory is one `(chunk_size, d_sae)`
    similarity block plus the outputs, never `d_sae²`. Rows need not be unit norm.
    """
    d_sae = W_dec.shape[0]
    if not 0 < n < d_sae:
        raise ValueError(f"n={n} must be in 1..{d_sae - 1}")
    inverse_norms = W_dec.norm(dim=1).clamp_min(torch.finfo(W_dec.dtype).tiny).reciprocal()
    indices = torch.empty(d_sae, n, dtype=torch.int64, device=W_dec.device)
    cosines = torch.empty(d_sae, n, dtype=torch.float32, device=W_dec.device)
    for start in range(0, d_sae, chunk_size):
        end = min(start + chunk_size, d_sae)
        block = W_dec[start:end] @ W_dec.T  # (chunk, d_sae) dot products
        block.mul_(inverse_norms[start:end, None]).mul_(inverse_norms[None, :])
        rows = torch.arange(end - start, device=W_dec.device)
        block[rows, rows + start] = -torch.inf
        top = block.topk(n, dim=1)
        indices[start:end] = top.indices
        cosines[start:end] = top.values.float()
    return Neighbours(indices, cosines)
