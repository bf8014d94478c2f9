"""Decide the SAE's input scale by reconstruction quality (FVU) and sparsity (L0) on real tokens."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from sae.model import MatryoshkaSae


class ScaleFit(NamedTuple):
    """How well the SAE fits `x / scale`."""

    scale: float
    """The candidate input scale s (the SAE sees x / s)."""
    fvu: float
    """Fraction of variance unexplained: ||xs - decode(f)||² / ||xs - mean(xs)||²."""
    l0: float
    """Mean number of active features per token."""


@torch.no_grad()
def compare_input_scales(
    sae: MatryoshkaSae,
    x_raw: torch.Tensor,
    candidates: Sequence[float] = (1.0, 22.34),
    chunk_size: int = 1024,
) -> list[ScaleFit]:
    """x_raw (N, d_in) residual-stream activations -> one ScaleFit per candidate scale.

    Encodes in threshold mode, `chunk_size` tokens at a time; `sae.input_scale` is ignored.
    """
    if x_raw.dim() != 2 or x_raw.shape[1] != sae.d_in or x_raw.shape[0] < 2:
        raise ValueError(f"expected (N >= 2, {sae.d_in}) activations, got {tuple(x_raw.shape)}")
    x_raw = x_raw.to(sae.W_enc.device, sae.W_enc.dtype)
    fits = []
    for scale in candidates:
        mean = (x_raw / scale).mean(dim=0)
        error = variance = 0.0
        active = 0
        for chunk in x_raw.split(chunk_size):
            xs = chunk / scale
            features = sae.encode(xs)
            error += float((xs - sae.decode(features)).double().pow(2).sum())
            variance += float((xs - mean).double().pow(2).sum())
            active += int((features > 0).sum())
        fvu = error / variance if variance > 0 else math.inf
        fits.append(ScaleFit(float(scale), fvu, active / x_raw.shape[0]))
    return fits


def choose_input_scale(fits: Sequence[ScaleFit], k: int) -> ScaleFit:
    """Among fits with FVU < 1, the one whose L0 is nearest `k`; if none, the lowest FVU."""
    if not fits:
        raise ValueError("no candidate scales to choose from")
    explaining = [fit for fit in fits if fit.fvu < 1]
    if explaining:
        return min(explaining, key=lambda fit: abs(fit.l0 - k))
    return min(fits, key=lambda fit: fit.fvu)
