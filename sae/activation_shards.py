"""Activation datasets on disk: fixed-size `shard_00000.pt` tensors plus a `meta.json`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

META_NAME = "meta.json"
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


class ActivationShardWriter:
    """Append (N, d_in) activations; writes a shard every `shard_tokens` rows and `meta.json`.

    `meta` (e.g. layer, hookpoint, lm_name) is stored in meta.json next to `d_in`, `n_tokens`,
    `dtype`, `shard_tokens` and the shard list. meta.json is rewritten after every shard, so a
    folder is readable even if the writer was never closed (without the unflushed tail).
    Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        folder: str | Path,
        d_in: int,
        meta: dict[str, Any] | None = None,
        shard_tokens: int = 65536,
        dtype: str = "float16",
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if any(self.folder.glob("shard_*.pt")) or (self.folder / META_NAME).exists():
            raise FileExistsError(f"{self.folder} already holds an activation dataset")
        self.d_in = d_in
        self.meta = dict(meta or {})
        self.shard_tokens = shard_tokens
        self.dtype = dtype
        self.n_tokens = 0
        self.shards: list[dict[str, Any]] = []
        self._buffer = torch.empty(shard_tokens, d_in, dtype=DTYPES[dtype])
        self._filled = 0

    def add(self, acts: torch.Tensor) -> None:
        """Append acts (N, d_in); any float dtype or device."""
        if acts.dim() != 2 or acts.shape[1] != self.d_in:
            raise ValueError(f"expected (N, {self.d_in}) activations, got {tuple(acts.shape)}")
        acts = acts.detach().to("cpu")
        while acts.shape[0]:
            take = min(self.shard_tokens - self._filled, acts.shape[0])
            self._buffer[self._filled : self._filled + take] = acts[:take]
            self._filled += take
            acts = acts[take:]
            if self._filled == self.shard_tokens:
                self._flush()

    def close(self) -> Path:
        """Write the last partial shard and meta.json; returns the folder."""
        if self._filled:
            self._flush()
        self._write_meta()
        return self.folder

    def __enter__(self) -> ActivationShardWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()

    def _flush(self) -> None:
        name = f"shard_{len(self.shards):05d}.pt"
        torch.save(self._buffer[: self._filled].clone(), self.folder / name)
        self.shards.append({"file": name, "n_tokens": self._filled})
        self.n_tokens += self._filled
        self._filled = 0
        self._write_meta()

    def _write_meta(self) -> None:
        meta = {
            **self.meta,
            "d_in": self.d_in,
            "n_tokens": self.n_tokens,
            "dtype": self.dtype,
            "shard_tokens": self.shard_tokens,
            "shards": self.shards,
        }
        temporary = self.folder / f".{META_NAME}.tmp"
        temporary.write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(temporary, self.folder / META_NAME)


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The dataset's meta.json, checked for the fields the reader needs."""
    file = Path(folder) / META_NAME
    if not file.is_file():
        raise FileNotFoundError(f"{file} is missing: not an activation dataset")
    meta = json.loads(file.read_text())
    missing = [key for key in ("d_in", "n_tokens", "dtype", "shards") if key not in meta]
    if missing:
        raise ValueError(f"{file} lacks {missing}")
    return meta


def iter_activation_batches(
    folder: str | Path,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
) -> Iterator[torch.Tensor]:
    """Yield float32 (batch_size, d_in) batches, one pass over the dataset.

    With `shuffle`, shards are visited in a random order and rows are shuffled within each
    shard (one shard in memory at a time); `seed` fixes the order. The last batch may be short
    unless `drop_last`.
    """
    folder = Path(folder)
    meta = read_meta(folder)
    generator = torch.Generator().manual_seed(seed)
    shards = meta["shards"]
    order = (
        torch.randperm(len(shards), generator=generator).tolist() if shuffle else range(len(shards))
    )
    carry = torch.empty(0, meta["d_in"])
    for index in order:
        shard = torch.load(folder / shards[index]["file"], weights_only=True).float()
        if shuffle:
            shard = shard[torch.randperm(shard.shape[0], generator=generator)]
        rows = torch.cat([carry, shard])
        n_full = rows.shape[0] // batch_size * batch_size
        if n_full:
            yield from rows[:n_full].split(batch_size)
        carry = rows[n_full:]
    if carry.shape[0] and not drop_last:
        yield carry
