"""What a precompute run reads and how it cuts examples: one frozen configuration."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WINDOW_BEFORE = 24
WINDOW_AFTER = 7
"""An example window holds up to 24 tokens before the example's token and 7 after it (32 in
all), shifted to stay inside the document. MAIRA-2 is causal, so the left context is what the
activation depends on; a few tokens to the right show how the phrase continues."""


@dataclass(frozen=True)
class PrecomputeConfig:
    """Inputs and sizes of one run; `fingerprint()` decides whether saved state can be resumed."""

    reports: Path
    images: Path | None = None
    model: str = "tiny"
    limit: int | None = None
    top_k: int = 64
    n_shards: int = 1
    batch_size: int = 16
    checkpoint_every: int = 256
    """Documents between checkpoints of a shard."""
    window_sample: int = 4096
    """Windows in the fixed random sample autointerp draws non-activating examples from."""
    window_seed: int = 0
    """Seed of that sample: the same corpus, limit and seed give the same windows."""

    def __post_init__(self) -> None:
        if self.top_k <= 0 or self.n_shards <= 0 or self.batch_size <= 0:
            raise ValueError("top_k, n_shards and batch_size must be positive")
        if self.window_sample < 0:
            raise ValueError("window_sample must not be negative")

    def fingerprint(self) -> dict[str, Any]:
        """The settings whose change invalidates partial results (not batch or checkpoint size)."""
        return {
            "reports": str(self.reports.resolve()),
            "images": str(self.images.resolve()) if self.images is not None else None,
            "model": self.model,
            "limit": self.limit,
            "top_k": self.top_k,
            "n_shards": self.n_shards,
            "window": [WINDOW_BEFORE, WINDOW_AFTER],
            "window_sample": [self.window_sample, self.window_seed],
        }

    def corpus_slug(self, model_slug: str) -> str:
        """Corpora are per model (its tokenizer), source file, limit and image use."""
        parts = [model_slug, self.reports.stem]
        if self.limit is not None:
            parts.append(f"first{self.limit}")
        if self.images is not None:
            parts.append("images")
        return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def example_window(position: int, length: int) -> tuple[int, int]:
    """[start, end) of the window around `position` in a document of `length` tokens."""
    size = min(WINDOW_BEFORE + WINDOW_AFTER + 1, length)
    start = max(0, position - WINDOW_BEFORE)
    start = min(start, length - size)
    return start, start + size
