"""An append-only, exact on-disk store of sparse feature activations (CSR rows per token).

The pass writes every token's non-zero activations here (token id, feature index, float32 value:
6-8 bytes per non-zero, e.g. ~1.5-2 KB per token at L0 = 256), so example windows can later be
filled with each token's exact value without a second forward pass or holding anything dense
across batches. Rows are appended in token-id order; a checkpoint records the sizes and a resumed
run truncates back to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

TOKEN_IDS = "token_ids.i64"
COUNTS = "counts.i32"
FEATURES = "features.i32"
VALUES = "values.f32"


@dataclass(frozen=True)
class StoreSize:
    """How much a store holds: token rows and non-zero entries."""

    rows: int
    nonzeros: int


class SparseActivationWriter:
    """Appends (N, d_sae) activation batches as sparse rows to the files in `folder`."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._files = {
            name: (folder / name).open("ab") for name in (TOKEN_IDS, COUNTS, FEATURES, VALUES)
        }

    def append(self, ids: torch.Tensor, acts: torch.Tensor) -> None:
        """ids (N,) int64 ascending; acts (N, d_sae) with zeros for inactive features."""
        rows, features = acts.nonzero(as_tuple=True)
        counts = torch.bincount(rows, minlength=acts.shape[0])
        self._write(TOKEN_IDS, ids.to(torch.int64))
        self._write(COUNTS, counts.to(torch.int32))
        self._write(FEATURES, features.to(torch.int32))
        self._write(VALUES, acts[rows, features].to(torch.float32))

    def _write(self, name: str, tensor: torch.Tensor) -> None:
        self._files[name].write(tensor.cpu().numpy().tobytes())

    def flush(self) -> StoreSize:
        """Flush to disk and return the sizes a checkpoint should record."""
        for handle in self._files.values():
            handle.flush()
        return store_size(self.folder)

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()


def store_size(folder: Path) -> StoreSize:
    def items(name: str, itemsize: int) -> int:
        path = folder / name
        return path.stat().st_size // itemsize if path.exists() else 0

    return StoreSize(rows=items(TOKEN_IDS, 8), nonzeros=items(VALUES, 4))


def truncate_store(folder: Path, size: StoreSize) -> None:
    """Cut the store back to a checkpoint's sizes (drops rows written after it)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, length in (
        (TOKEN_IDS, size.rows * 8),
        (COUNTS, size.rows * 4),
        (FEATURES, size.nonzeros * 4),
        (VALUES, size.nonzeros * 4),
    ):
        with (folder / name).open("ab") as handle:
            handle.truncate(length)


class SparseActivationReader:
    """Random access by token id to a finished store (memory-mapped; offsets held in RAM)."""

    def __init__(self, folder: Path) -> None:
        size = store_size(folder)
        self.token_ids = _map(folder / TOKEN_IDS, np.int64, size.rows)
        counts = _map(folder / COUNTS, np.int32, size.rows)
        self.offsets = np.zeros(size.rows + 1, dtype=np.int64)
        np.cumsum(counts, out=self.offsets[1:])
        self.features = _map(folder / FEATURES, np.int32, size.nonzeros)
        self.values = _map(folder / VALUES, np.float32, size.nonzeros)

    def window_values(self, first_id: int, n_tokens: int, features: np.ndarray) -> np.ndarray:
        """(n_tokens, len(features)) float32 values of tokens first_id .. first_id + n_tokens - 1.

        Tokens absent from the store count as all-zero rows.
        """
        out = np.zeros((n_tokens, len(features)), dtype=np.float32)
        start, end = np.searchsorted(self.token_ids, [first_id, first_id + n_tokens])
        if start == end:
            return out
        column = {int(feature): column for column, feature in enumerate(features)}
        lookup = np.full(int(max(column)) + 1, -1, dtype=np.int64)
        lookup[list(column)] = list(column.values())
        lo, hi = self.offsets[start], self.offsets[end]
        entry_features = np.asarray(self.features[lo:hi])
        entry_rows = np.repeat(
            np.asarray(self.token_ids[start:end]) - first_id,
            np.diff(self.offsets[start : end + 1]),
        )
        inside = entry_features < len(lookup)
        columns = np.full(len(entry_features), -1, dtype=np.int64)
        columns[inside] = lookup[entry_features[inside]]
        keep = columns >= 0
        out[entry_rows[keep], columns[keep]] = np.asarray(self.values[lo:hi])[keep]
        return out

    def window_maxima(self, first_id: int, n_tokens: int) -> tuple[np.ndarray, np.ndarray]:
        """The features active on tokens first_id .. first_id + n_tokens - 1 (ascending int32)
        and each one's maximum over those tokens (float32)."""
        start, end = np.searchsorted(self.token_ids, [first_id, first_id + n_tokens])
        lo, hi = self.offsets[start], self.offsets[end]
        features = np.asarray(self.features[lo:hi])
        values = np.asarray(self.values[lo:hi])
        active, inverse = np.unique(features, return_inverse=True)
        maxima = np.full(len(active), -np.inf, dtype=np.float32)
        np.maximum.at(maxima, inverse, values)
        return active.astype(np.int32), maxima


def _map(path: Path, dtype: type, length: int) -> np.ndarray:
    if length == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(length,))
