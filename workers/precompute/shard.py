"""One shard of the streaming pass: capture report tokens, encode once, accumulate, checkpoint.

The shard takes the corpus reports whose index % n_shards == shard, in corpus order, in batches
of `batch_size`: the source captures their layer activations (the runner: teacher-forced, stopped
after the hooked layer; or a replay of an earlier capture), the SAE encodes the batch's report
tokens once for all features, and the result feeds the feature statistics (with global token
ids, see `tokens`) and the sparse store. Nothing dense outlives its batch. Every
`checkpoint_every` documents the statistics, counters, document log and store sizes are saved,
so an interrupted shard resumes where it left off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

import torch

from sae.stats import FeatureStatistics
from workers.corpus import Report, read_reports
from workers.precompute.config import PrecomputeConfig
from workers.precompute.database import DocumentRow
from workers.precompute.sources import ActivationSource
from workers.precompute.state import Progress, ShardState, append_documents
from workers.precompute.store import SparseActivationWriter
from workers.precompute.tokens import MAX_POSITIONS, token_ids

log = logging.getLogger(__name__)


class ActivationSink(Protocol):
    """Receives each batch's raw report-token activations (e.g. an activation shard writer)."""

    def add(self, activations: torch.Tensor) -> None: ...


@dataclass(frozen=True)
class ShardOutcome:
    """What a shard run did: its progress, and whether it had already finished earlier."""

    progress: Progress
    already_finished: bool


def shard_reports(config: PrecomputeConfig, shard: int, after: int) -> Iterator[Report]:
    """The shard's reports with a corpus index above `after`."""
    for report in read_reports(config.reports, config.images, config.limit):
        if report.index > after and report.index % config.n_shards == shard:
            yield report


def _batches(reports: Iterable[Report], size: int) -> Iterator[list[Report]]:
    iterator = iter(reports)
    while batch := list(islice(iterator, size)):
        yield batch


def new_statistics(sae: Any, top_k: int) -> FeatureStatistics:
    return FeatureStatistics(sae.d_sae, top_k=top_k, device=sae.W_dec.device)


def run_shard(
    source: ActivationSource,
    sae: Any,
    config: PrecomputeConfig,
    shard: int,
    state: ShardState,
    on_checkpoint: Callable[[Progress], None] | None = None,
    activation_sink: ActivationSink | None = None,
) -> ShardOutcome:
    """Process (or resume) one shard; `on_checkpoint` is called after each saved checkpoint."""
    progress, saved = state.open()
    if progress.finished:
        return ShardOutcome(progress, already_finished=True)
    statistics = new_statistics(sae, config.top_k)
    if saved is not None:
        statistics.load_state_dict(saved)
        log.info("shard %d resumes after report %d", shard, progress.last_index)
    store = SparseActivationWriter(state.sparse_folder)
    started = time.monotonic()
    tokens_at_start = progress.tokens
    since_checkpoint = 0
    try:
        with state.documents_path.open("ab") as documents_log:
            for batch in _batches(
                shard_reports(config, shard, progress.last_index), config.batch_size
            ):
                documents = _process_batch(
                    source, sae, batch, statistics, store, activation_sink, progress
                )
                append_documents(documents_log, documents)
                progress.last_index = batch[-1].index
                progress.documents += len(documents)
                progress.tokens += sum(len(document.tokens) for document in documents)
                since_checkpoint += len(documents)
                if since_checkpoint >= config.checkpoint_every:
                    _checkpoint(state, progress, statistics, store, documents_log)
                    since_checkpoint = 0
                    _log_rate(shard, progress, tokens_at_start, started)
                    if on_checkpoint is not None:
                        on_checkpoint(progress)
            progress.finished = True
            _checkpoint(state, progress, statistics, store, documents_log)
    finally:
        store.close()
    _log_rate(shard, progress, tokens_at_start, started)
    if on_checkpoint is not None:
        on_checkpoint(progress)
    return ShardOutcome(progress, already_finished=False)


def _process_batch(
    source: ActivationSource,
    sae: Any,
    batch: list[Report],
    statistics: FeatureStatistics,
    store: SparseActivationWriter,
    activation_sink: ActivationSink | None,
    progress: Progress,
) -> list[DocumentRow]:
    captures = source.capture(batch)
    documents: list[DocumentRow] = []
    activations, ids = [], []
    for report, capture in zip(batch, captures, strict=True):
        n_tokens = min(len(capture.tokens), MAX_POSITIONS)
        documents.append(
            DocumentRow(
                report.index,
                report.external_id,
                list(capture.tokens[:n_tokens]),
                report.meta,
            )
        )
        activations.append(capture.activations[:n_tokens])
        ids.append(token_ids(report.index, n_tokens))
    raw = torch.cat(activations).to(device=sae.W_dec.device, dtype=sae.W_dec.dtype)
    if activation_sink is not None and raw.shape[0]:
        activation_sink.add(raw)
    progress.norm_sum += float(raw.float().norm(dim=1).sum())
    progress.norm_tokens += raw.shape[0]
    with torch.no_grad():
        features = sae.encode_raw(raw)
    all_ids = torch.cat(ids).to(features.device)
    statistics.update(features, all_ids)
    store.append(all_ids, features)
    return documents


def _checkpoint(
    state: ShardState,
    progress: Progress,
    statistics: FeatureStatistics,
    store: SparseActivationWriter,
    documents_log: Any,
) -> None:
    documents_log.flush()
    progress.documents_bytes = documents_log.tell()
    size = store.flush()
    progress.store_rows, progress.store_nonzeros = size.rows, size.nonzeros
    state.save(progress, statistics.state_dict())


def _log_rate(shard: int, progress: Progress, tokens_at_start: int, started: float) -> None:
    elapsed = max(time.monotonic() - started, 1e-9)
    log.info(
        "shard %d: %d documents, %d tokens (%.0f tokens/s)",
        shard,
        progress.documents,
        progress.tokens,
        (progress.tokens - tokens_at_start) / elapsed,
    )
