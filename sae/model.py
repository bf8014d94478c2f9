"""The Matryoshka BatchTopK SAE of dictionary_learning, as a plain torch module."""

from __future__ import annotations

import math

import torch
from torch import nn


class MatryoshkaSae(nn.Module):
    """dictionary_learning's `MatryoshkaBatchTopKSAE`; at inference a JumpReLU with one threshold.

    Parameters keep the library's names and layouts: `W_enc (d_in, d_sae)`, `b_enc (d_sae,)`,
    `W_dec (d_sae, d_in)` (rows are features), `b_dec (d_in,)`. The library's buffers `k`,
    `threshold` and `group_sizes` are plain Python attributes here; `sae.io` converts them to and
    from the checkpoint's tensors.
    """

    def __init__(
        self,
        d_in: int,
        d_sae: int,
        k: int,
        group_sizes: list[int],
        threshold: float = -1.0,
        input_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if sum(group_sizes) != d_sae or any(size <= 0 for size in group_sizes):
            raise ValueError(f"group sizes {group_sizes} must be positive and sum to {d_sae}")
        if not 0 < k <= d_sae:
            raise ValueError(f"k={k} must be in 1..{d_sae}")
        if input_scale <= 0:
            raise ValueError(f"input_scale={input_scale} must be positive")
        self.d_in = d_in
        self.d_sae = d_sae
        self.k = int(k)
        self.group_sizes = [int(size) for size in group_sizes]
        self.threshold = float(threshold)
        self.input_scale = float(input_scale)
        self.config: dict | None = None
        """The checkpoint's `config.json` when one was loaded with it."""
        self.W_enc = nn.Parameter(torch.zeros(d_in, d_sae))
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(torch.zeros(d_sae, d_in))
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """(N, d_in) -> (N, d_sae): `relu((x - b_dec) @ W_enc + b_enc)`."""
        return torch.addmm(self.b_enc, x - self.b_dec, self.W_enc).relu_()

    def encode(self, x: torch.Tensor, use_threshold: bool = True) -> torch.Tensor:
        """(N, d_in) -> (N, d_sae) feature activations in SAE input units.

        `use_threshold=True` (inference) zeroes activations not above the scalar threshold; it is
        per token. `use_threshold=False` is BatchTopK: the `k * N` largest activations of the
        whole batch survive, so the result depends on the batch; it needs 2-D input.
        """
        if x.dim() != 2:
            raise ValueError(f"encode needs (N, d_in) input, got shape {tuple(x.shape)}")
        if not use_threshold:
            return batch_top_k(self.pre_activations(x), self.k)
        pre = torch.addmm(self.b_enc, x - self.b_dec, self.W_enc)
        if self.threshold < 0:
            return pre.relu_()
        # relu(pre) * (relu(pre) > threshold) in one in-place pass, as threshold >= 0.
        return torch.nn.functional.threshold_(pre, self.threshold, 0.0)

    def encode_raw(self, x: torch.Tensor) -> torch.Tensor:
        """(N, d_in) residual-stream activations -> (N, d_sae): `encode(x / input_scale)`."""
        return self.encode(x / self.input_scale)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """(N, d_sae) -> (N, d_in): `f @ W_dec + b_dec`."""
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, d_in) -> (N, d_in) reconstruction through the threshold encoder."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def scale_biases(self, scale: float) -> None:
        """Fold an input normalisation into the biases: afterwards `encode(scale * x)` is
        `scale * ` the old `encode(x)` (the library's `scale_biases`)."""
        self.b_enc.mul_(scale)
        self.b_dec.mul_(scale)
        if self.threshold >= 0:
            self.threshold *= scale

    def extra_repr(self) -> str:
        return (
            f"d_in={self.d_in}, d_sae={self.d_sae}, k={self.k}, threshold={self.threshold:.6g}, "
            f"groups={len(self.group_sizes)}, input_scale={self.input_scale:g}"
        )


def batch_top_k_indices(pre: torch.Tensor, k: int) -> torch.Tensor:
    """(N, F) -> flat indices of the `k * N` largest entries of `pre` (unordered).

    The same set as `pre.flatten().topk(k * N)`, found without a full-size selection: a strided
    sample gives a cut-off that at least `k * N` entries reach, and only the entries at or above it
    enter `topk`. Entries below the cut-off cannot be among the largest `k * N`, so the result is
    exact; when a cut-off admits too few entries a lower one is tried, and finally all entries.
    """
    flat = pre.detach().flatten()
    wanted = k * pre.size(0)
    stride = _sample_stride(pre.size(-1), flat.numel() // (4 * wanted))
    if stride > 1:
        sample = flat[::stride]
        for margin in (2, 8):
            cut_rank = min(sample.numel(), margin * wanted // stride + 1)
            cutoff = sample.topk(cut_rank, sorted=False).values.min()
            candidates = (flat >= cutoff).nonzero().squeeze(1)
            if candidates.numel() >= wanted:
                return candidates[flat[candidates].topk(wanted, sorted=False).indices]
    return flat.topk(wanted, sorted=False).indices


def _sample_stride(width: int, largest: int) -> int:
    """A stride up to `largest` coprime to `width`, so a strided sample covers every column."""
    for stride in range(max(largest, 1), 1, -1):
        if math.gcd(stride, width) == 1:
            return stride
    return 1


def batch_top_k(pre: torch.Tensor, k: int) -> torch.Tensor:
    """(N, F) -> (N, F): keep the `k * N` largest entries of the flattened batch, zero the rest."""
    flat = pre.flatten()
    indices = batch_top_k_indices(pre, k)
    return torch.zeros_like(flat).scatter(-1, indices, flat[indices]).reshape(pre.shape)
