"""Global token ids: one int64 per report token, `document index << 20 | position`.

Ids depend only on the document's place in the corpus, so every shard, every resumed run and the
one-pass run give each token the same id, and an id names its document and position directly.
"""

from __future__ import annotations

import numpy as np
import torch

POSITION_BITS = 20
MAX_POSITIONS = 1 << POSITION_BITS
"""Reports longer than this many tokens are cut (MAIRA-2's context is ~6k tokens)."""


def token_ids(document_index: int, n_tokens: int) -> torch.Tensor:
    """(n_tokens,) int64 ids of a document's tokens."""
    if n_tokens > MAX_POSITIONS:
        raise ValueError(f"document {document_index} has {n_tokens} tokens (> {MAX_POSITIONS})")
    return (document_index << POSITION_BITS) + torch.arange(n_tokens, dtype=torch.int64)


def split_token_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int64 ids -> (document indices, positions)."""
    ids = np.asarray(ids, dtype=np.int64)
    return ids >> POSITION_BITS, ids & (MAX_POSITIONS - 1)


def document_of(token_id: int) -> int:
    return token_id >> POSITION_BITS
