"""Steer generation by adding a fixed vector to one decoder block's output at every position.

Units: the vector is `sum_i alpha_i * scale * d_i` with each `d_i` a direction rescaled to unit L2
norm (an SAE decoder row already is), so with `scale = 1` alpha is measured in raw residual-stream
units at the hooked site; `scale` (setting `steering_scale`, e.g. the SAE's input normalisation
factor) converts alphas given in normalised SAE units. The hook site follows `capture.py`'s
convention: the output of block `layer` (or, for point "input", of block `layer - 1`).

`adding_per_row` gives each batch row its own vector (a zero row is the unsteered baseline), so
one batched generate writes the baseline and every step of an alpha sweep. The hook fires on the
prefill (every prompt position, image tokens included) and once per decode step, so with the KV
cache every position sees the steered stream. It must be registered before
`generate` starts and removed afterwards; module hooks are global, so callers serialise steered
generations (`Maira2Runner` holds a lock).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from workers.maira2.capture import block_hidden


def steering_vector(
    directions: torch.Tensor, alphas: Sequence[float], scale: float = 1.0
) -> torch.Tensor:
    """(m, d_model) directions, m alphas -> (d_model,) `sum_i alpha_i * scale * unit(d_i)`."""
    if directions.ndim != 2:
        raise ValueError(f"directions must be (m, d_model), got shape {tuple(directions.shape)}")
    if directions.shape[0] != len(alphas):
        raise ValueError(f"{directions.shape[0]} directions but {len(alphas)} alphas")
    rows = directions.detach().to(device="cpu", dtype=torch.float32)
    norms = rows.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("a steering direction is the zero vector")
    weights = torch.tensor(list(alphas), dtype=torch.float32) * scale
    return weights @ (rows / norms)


def steering_vectors(
    directions: torch.Tensor, alpha_rows: Sequence[Sequence[float]], scale: float = 1.0
) -> torch.Tensor:
    """(m, d_model) directions, n rows of m alphas -> (n, d_model), one steering vector a row."""
    if not alpha_rows:
        return torch.zeros(0, directions.shape[1])
    return torch.stack([steering_vector(directions, alphas, scale) for alphas in alpha_rows])


@contextmanager
def adding_per_row(block: nn.Module, shifts: torch.Tensor) -> Iterator[RemovableHandle]:
    """Add `shifts[b]` (a (batch, d_model) tensor) to `block`'s output of batch row `b` at every
    position; a zero row leaves its row's stream exactly as it was. Removed on exit."""

    def hook(
        _module: nn.Module, _args: tuple, output: torch.Tensor | tuple
    ) -> torch.Tensor | tuple:
        hidden = block_hidden(output)
        if hidden.shape[0] != shifts.shape[0]:
            raise ValueError(f"{shifts.shape[0]} shifts for a batch of {hidden.shape[0]} rows")
        steered = hidden + shifts.to(device=hidden.device, dtype=hidden.dtype)[:, None, :]
        return (steered, *output[1:]) if isinstance(output, tuple) else steered

    handle = block.register_forward_hook(hook)
    try:
        yield handle
    finally:
        handle.remove()
