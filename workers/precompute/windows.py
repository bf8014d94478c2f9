"""The window sample: a fixed, seeded random sample of context windows, with the sparse set of
features active in each window and their maxima, read from the shards' sparse stores at merge.

Each document is cut into consecutive windows of `WINDOW_TOKENS` tokens (the last may be shorter);
the sample draws `n` of all of them without replacement from `numpy.random.default_rng(seed)`.
Windows are enumerated by corpus index, so the same corpus, limit and seed give the same sample
whatever the number of shards. It costs no forward pass: the capture pass already stored every
token's activations.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from workers.precompute.config import WINDOW_AFTER, WINDOW_BEFORE
from workers.precompute.store import SparseActivationReader
from workers.precompute.tokens import POSITION_BITS

WINDOW_TOKENS = WINDOW_BEFORE + WINDOW_AFTER + 1


@dataclass(frozen=True)
class SampledWindow:
    """One window of the sample: its document (corpus index), span and draw order."""

    position: int
    document: int
    start: int
    end: int


@dataclass(frozen=True)
class WindowSampleRow:
    """One `window_samples` row: a sampled window and the features active in it."""

    document_id: int
    position: int
    start: int
    end: int
    seed: int
    feature_indices: list[int]
    feature_maxima: list[float]


def sample_windows(lengths: dict[int, int], n: int, seed: int) -> list[SampledWindow]:
    """`n` windows (all when there are fewer) drawn without replacement, in draw order."""
    documents = np.array(sorted(d for d, length in lengths.items() if length > 0), dtype=np.int64)
    if n == 0 or len(documents) == 0:
        return []
    sizes = np.array([lengths[int(d)] for d in documents], dtype=np.int64)
    per_document = -(-sizes // WINDOW_TOKENS)
    first = np.concatenate([[0], np.cumsum(per_document)])
    total = int(first[-1])
    drawn = np.random.default_rng(seed).choice(total, size=min(n, total), replace=False)
    owner = np.searchsorted(first, drawn, side="right") - 1
    windows = []
    for position, (flat, row) in enumerate(zip(drawn.tolist(), owner.tolist(), strict=True)):
        start = (flat - int(first[row])) * WINDOW_TOKENS
        end = min(start + WINDOW_TOKENS, int(sizes[row]))
        windows.append(SampledWindow(position, int(documents[row]), start, end))
    return windows


def window_sample_rows(
    windows: list[SampledWindow],
    stores: list[SparseActivationReader],
    document_ids: dict[int, int],
    seed: int,
) -> Iterator[WindowSampleRow]:
    """Each window with the features active in it, read from the store of its document's shard."""
    for window in windows:
        first_id = (window.document << POSITION_BITS) + window.start
        features, maxima = stores[window.document % len(stores)].window_maxima(
            first_id, window.end - window.start
        )
        yield WindowSampleRow(
            document_id=document_ids[window.document],
            position=window.position,
            start=window.start,
            end=window.end,
            seed=seed,
            feature_indices=features.tolist(),
            feature_maxima=maxima.tolist(),
        )
