"""Merges finished shards and writes one (SAE, corpus) result into the database in one transaction.

The shards' statistics are merged exactly (`FeatureStatistics.merge`). Example windows come from
the shards' sparse stores: for every chosen token (top-K and interval samples) the window around
it (see `config.example_window`) is filled with the feature's stored activation on each token, so
the values are exactly what the pass encoded, with no second forward pass. Then, in one
transaction: documents (COPY, updated in place), feature statistics (COPY + UPDATE), the pair's old
examples deleted and the new ones COPYed, and the window sample (`windows`) replaced. A crash
before commit leaves the previous results intact.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sqlalchemy import Connection, Engine, update

from db.aggregates import refresh_sae_aggregates
from db.models import Sae
from sae.buckets import interval_buckets
from sae.stats import FeatureStatistics, FeatureStatisticsResult
from workers.precompute.config import example_window
from workers.precompute.database import (
    ExampleRow,
    FeatureStatisticsRow,
    ensure_features,
    replace_examples,
    replace_window_sample,
    write_documents,
    write_feature_statistics,
)
from workers.precompute.state import ShardState
from workers.precompute.store import SparseActivationReader
from workers.precompute.tokens import POSITION_BITS, split_token_ids
from workers.precompute.windows import sample_windows, window_sample_rows

log = logging.getLogger(__name__)

N_INTERVALS = 5
PER_INTERVAL = 5


@dataclass(frozen=True)
class ExampleChoices:
    """Flat arrays, one entry per example to cut: which feature, token and bucket."""

    feature: np.ndarray
    token_id: np.ndarray
    kind: np.ndarray
    rank: np.ndarray
    bin_min: np.ndarray
    bin_max: np.ndarray
    bin_share: np.ndarray


@dataclass(frozen=True)
class MergeOutcome:
    n_documents: int
    n_tokens: int
    n_examples: int
    n_windows: int


def merge_statistics(states: list[ShardState], template: FeatureStatistics) -> FeatureStatistics:
    """Load every finished shard's statistics into `template` (an empty, configured object)."""
    for number, state in enumerate(states):
        saved = state.load_statistics()
        if number == 0:
            template.load_state_dict(saved)
            continue
        part = FeatureStatistics(
            template.n_features,
            top_k=template.top_k,
            sample_size=template.sample_size,
            edges=template.edges,
            salt=template.salt,
            device=template.count.device,
        )
        part.load_state_dict(saved)
        template.merge(part)
    return template


def statistics_rows(result: FeatureStatisticsResult) -> Iterator[FeatureStatisticsRow]:
    """One row per feature; the histogram keeps only its non-empty range of log bins.

    Bin edges: 0, the statistics' log edges, then the feature's max (the under- and overflow
    columns become ordinary bins), so `len(edges) == len(counts) + 1`.
    """
    counts = result.count.cpu().numpy()
    maxima = result.max.cpu().numpy().astype(np.float64)
    means = result.mean_active.cpu().numpy()
    frequency = result.frequency.cpu().numpy()
    histogram = result.histogram.cpu().numpy()
    inner = result.histogram_edges.cpu().numpy().astype(np.float64)
    for index in range(len(counts)):
        if counts[index] == 0:
            yield FeatureStatisticsRow(index, 0.0, 0, result.n_tokens, None, None, [], [])
            continue
        edges = np.concatenate([[0.0], inner, [max(maxima[index], inner[-1])]])
        nonzero = np.flatnonzero(histogram[index])
        first, last = int(nonzero[0]), int(nonzero[-1])
        yield FeatureStatisticsRow(
            index=index,
            frequency=float(frequency[index]),
            n_active=int(counts[index]),
            n_tokens=result.n_tokens,
            max_activation=float(maxima[index]),
            mean_activation=float(means[index]),
            histogram_edges=edges[first : last + 2].tolist(),
            histogram_counts=histogram[index, first : last + 1].tolist(),
        )


def example_choices(result: FeatureStatisticsResult) -> ExampleChoices:
    """Top-K tokens (rank order) and interval samples (SAEDashboard-style linear intervals)."""
    top_ids = result.top_token_ids.cpu()
    n_features, top_k = top_ids.shape
    features = torch.arange(n_features)[:, None]
    used = top_ids >= 0
    parts = [
        (
            features.expand_as(top_ids)[used],
            top_ids[used],
            torch.zeros_like(top_ids)[used],
            torch.arange(top_k)[None, :].expand_as(top_ids)[used],
            torch.full_like(top_ids, -1, dtype=torch.float64)[used],
            torch.full_like(top_ids, -1, dtype=torch.float64)[used],
            torch.full_like(top_ids, -1, dtype=torch.float64)[used],
        )
    ]
    cpu_result = result._replace(
        max=result.max.cpu(),
        sample_values=result.sample_values.cpu(),
        sample_token_ids=result.sample_token_ids.cpu(),
    )
    buckets = interval_buckets(cpu_result, N_INTERVALS, PER_INTERVAL)
    used = buckets.token_ids >= 0
    shape = buckets.token_ids.shape
    parts.append(
        (
            features[:, :, None].expand(shape)[used],
            buckets.token_ids[used],
            torch.ones(shape, dtype=torch.int64)[used],
            torch.arange(shape[2])[None, None, :].expand(shape)[used],
            buckets.bin_min[:, :, None].expand(shape).double()[used],
            buckets.bin_max[:, :, None].expand(shape).double()[used],
            buckets.share[:, :, None].expand(shape)[used],
        )
    )
    columns = [torch.cat(column).numpy() for column in zip(*parts, strict=True)]
    return ExampleChoices(*columns)


def example_rows(
    choices: ExampleChoices,
    stores: list[SparseActivationReader],
    lengths: dict[int, int],
    document_ids: dict[int, int],
) -> Iterator[ExampleRow]:
    """Cut each chosen token's window and fill it from the store of the shard that owns it."""
    order = np.argsort(choices.token_id, kind="stable")
    documents, positions = split_token_ids(choices.token_id[order])
    boundaries = np.flatnonzero(np.diff(documents)) + 1
    for group in np.split(np.arange(len(order)), boundaries):
        if len(group) == 0:
            continue
        document = int(documents[group[0]])
        length = lengths[document]
        windows = [example_window(int(positions[i]), length) for i in group]
        low = min(start for start, _ in windows)
        high = max(end for _, end in windows)
        entries = order[group]
        features = np.unique(choices.feature[entries])
        values = stores[document % len(stores)].window_values(
            (document << POSITION_BITS) + low, high - low, features
        )
        columns = np.searchsorted(features, choices.feature[entries])
        for i, entry, (start, end), column in zip(group, entries, windows, columns, strict=True):
            position = int(positions[i])
            interval = choices.kind[entry] == 1
            yield ExampleRow(
                feature_index=int(choices.feature[entry]),
                document_id=document_ids[document],
                kind="interval" if interval else "top",
                rank=int(choices.rank[entry]),
                start=start,
                end=end,
                values=values[start - low : end - low, column].astype("<f4").tobytes(),
                max_value=float(values[position - low, column]),
                max_position=position,
                bin_min=float(choices.bin_min[entry]) if interval else None,
                bin_max=float(choices.bin_max[entry]) if interval else None,
                bin_share=float(choices.bin_share[entry]) if interval else None,
            )


def write_results(
    engine: Engine,
    sae_id: int,
    group_sizes: list[int],
    corpus_id: int,
    states: list[ShardState],
    statistics: FeatureStatistics,
    window_sample: int,
    window_seed: int,
) -> MergeOutcome:
    """Write documents, statistics, examples and the window sample (`window_sample` windows drawn
    with `window_seed`) of the pair, replacing earlier ones, atomically."""
    result = statistics.compute()
    choices = example_choices(result)
    stores = [SparseActivationReader(state.sparse_folder) for state in states]
    lengths: dict[int, int] = {}

    def documents() -> Iterator:
        for state in states:
            for document in state.documents():
                lengths[document.index] = len(document.tokens)
                yield document

    with engine.begin() as connection:
        document_ids = write_documents(connection, corpus_id, documents())
        ensure_features(connection, sae_id, group_sizes)
        write_feature_statistics(connection, sae_id, statistics_rows(result))
        n_examples = replace_examples(
            connection, sae_id, corpus_id, example_rows(choices, stores, lengths, document_ids)
        )
        windows = sample_windows(lengths, window_sample, window_seed)
        n_windows = replace_window_sample(
            connection,
            sae_id,
            corpus_id,
            window_sample_rows(windows, stores, document_ids, window_seed),
        )
        _store_mean_token_norm(connection, sae_id, states)
        refresh_sae_aggregates(connection, sae_id)
    log.info(
        "wrote %d documents, %d features, %d examples, %d sampled windows",
        len(document_ids),
        statistics.n_features,
        n_examples,
        n_windows,
    )
    return MergeOutcome(len(document_ids), result.n_tokens, n_examples, n_windows)


def _store_mean_token_norm(connection: Connection, sae_id: int, states: list[ShardState]) -> None:
    """Record the mean raw token norm of the pass on the SAE (steering's alpha unit)."""
    saved = [state.saved_progress() for state in states]
    tokens = sum(progress.norm_tokens for progress in saved)
    total = sum(progress.norm_sum for progress in saved)
    if tokens and total > 0:
        connection.execute(
            update(Sae).where(Sae.id == sae_id).values(mean_token_norm=total / tokens)
        )


def shard_folders(root: Path, n_shards: int) -> list[Path]:
    return [root / f"shard-{shard}-of-{n_shards}" for shard in range(n_shards)]
