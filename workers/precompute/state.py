"""A shard's state folder: checkpoint (statistics + counters), document log, sparse activations.

Layout of `<home>/precompute/<sae>__<corpus>/shard-<i>-of-<n>/`:
`config.json` (the run configuration; a different one discards the folder), `checkpoint.pt`
(written atomically), `documents.jsonl` (one line per processed report) and `sparse/` (see
`store`). Everything appended after the last checkpoint is cut off when the shard resumes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from workers.precompute.database import DocumentRow
from workers.precompute.store import StoreSize, truncate_store

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
DOCUMENTS = "documents.jsonl"
SPARSE = "sparse"


@dataclass
class Progress:
    """Counters saved with each checkpoint."""

    last_index: int = -1
    """Corpus index of the last report processed (-1: none yet)."""
    documents: int = 0
    tokens: int = 0
    documents_bytes: int = 0
    store_rows: int = 0
    store_nonzeros: int = 0
    norm_sum: float = 0.0
    """Sum of the L2 norms of the raw activations processed (for the mean token norm)."""
    norm_tokens: int = 0
    finished: bool = False


class ShardState:
    """The files of one shard of one (SAE, corpus) run."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        self.folder = folder
        self.config = config

    @property
    def sparse_folder(self) -> Path:
        return self.folder / SPARSE

    @property
    def documents_path(self) -> Path:
        return self.folder / DOCUMENTS

    def open(self) -> tuple[Progress, dict[str, Any] | None]:
        """Prepare the folder for (re)starting the shard: (progress, saved statistics or None).

        A folder written under another configuration is discarded; files are cut back to the
        last checkpoint.
        """
        config_path = self.folder / CONFIG
        if config_path.exists() and json.loads(config_path.read_text()) != self.config:
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        config_path.write_text(json.dumps(self.config, sort_keys=True, indent=1))
        checkpoint_path = self.folder / CHECKPOINT
        if not checkpoint_path.exists():
            progress, statistics = Progress(), None
        else:
            saved = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
            progress, statistics = Progress(**saved["progress"]), saved["statistics"]
        with self.documents_path.open("ab") as handle:
            handle.truncate(progress.documents_bytes)
        truncate_store(self.sparse_folder, StoreSize(progress.store_rows, progress.store_nonzeros))
        return progress, statistics

    def saved_progress(self) -> Progress:
        """The counters of the last checkpoint (a fresh Progress when there is none)."""
        checkpoint_path = self.folder / CHECKPOINT
        if not checkpoint_path.exists():
            return Progress()
        saved = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        return Progress(**saved["progress"])

    def save(self, progress: Progress, statistics: dict[str, Any]) -> None:
        """Write the checkpoint atomically (temporary file, then rename)."""
        temporary = self.folder / (CHECKPOINT + ".tmp")
        torch.save({"progress": asdict(progress), "statistics": statistics}, temporary)
        os.replace(temporary, self.folder / CHECKPOINT)

    def load_statistics(self) -> dict[str, Any]:
        saved = torch.load(self.folder / CHECKPOINT, map_location="cpu", weights_only=False)
        if not saved["progress"]["finished"]:
            raise RuntimeError(f"{self.folder}: shard is not finished")
        return saved["statistics"]

    def documents(self) -> Iterator[DocumentRow]:
        """The shard's processed reports, in corpus order."""
        with self.documents_path.open(encoding="utf-8") as handle:
            for line in handle:
                yield DocumentRow(**json.loads(line))


def append_documents(handle: Any, documents: list[DocumentRow]) -> None:
    """Append documents to an open binary `documents.jsonl` handle."""
    for document in documents:
        handle.write((json.dumps(asdict(document), ensure_ascii=False) + "\n").encode("utf-8"))
