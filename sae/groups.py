"""Matryoshka group membership: which nested prefix of the dictionary each feature belongs to."""

from __future__ import annotations

import torch


def feature_groups(group_sizes: list[int]) -> torch.Tensor:
    """(d_sae,) int64: the Matryoshka group of every feature (0 = the first, coarsest prefix)."""
    sizes = torch.as_tensor(group_sizes, dtype=torch.int64)
    if sizes.dim() != 1 or bool((sizes <= 0).any()):
        raise ValueError(f"group sizes must be a list of positive integers, got {group_sizes}")
    return torch.repeat_interleave(torch.arange(len(sizes)), sizes)


def group_bounds(group_sizes: list[int]) -> list[tuple[int, int]]:
    """[(start, end), ...] feature index ranges of each group, end exclusive."""
    bounds, start = [], 0
    for size in group_sizes:
        bounds.append((start, start + int(size)))
        start += int(size)
    return bounds
