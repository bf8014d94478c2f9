"""Database side of a precompute: corpora, documents, feature statistics, examples (by COPY)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, text

from workers.precompute.windows import WindowSampleRow


@dataclass(frozen=True)
class DocumentRow:
    """One report to store: its place in the corpus, id in the source, tokens and metadata."""

    index: int
    external_id: str
    tokens: list[str]
    meta: dict


@dataclass(frozen=True)
class FeatureStatisticsRow:
    """The `features` columns a precompute fills for one feature index."""

    index: int
    frequency: float
    n_active: int
    n_tokens: int
    max_activation: float | None
    mean_activation: float | None
    histogram_edges: list[float]
    histogram_counts: list[int]


@dataclass(frozen=True)
class ExampleRow:
    """One `examples` row, keyed by feature index and document id."""

    feature_index: int
    document_id: int
    kind: str
    rank: int
    start: int
    end: int
    values: bytes
    max_value: float
    max_position: int
    bin_min: float | None = None
    bin_max: float | None = None
    bin_share: float | None = None


def ensure_corpus(
    connection: Connection, slug: str, name: str, source: str, text_only: bool
) -> int:
    """The id of the corpus `slug`, created if absent."""
    return connection.execute(
        text(
            "INSERT INTO corpora (slug, name, source, text_only) "
            "VALUES (:slug, :name, :source, :text_only) "
            "ON CONFLICT (slug) DO UPDATE SET source = EXCLUDED.source, "
            "text_only = EXCLUDED.text_only RETURNING id"
        ),
        {"slug": slug, "name": name, "source": source, "text_only": text_only},
    ).scalar_one()


def _copy(connection: Connection, statement: str, rows: Iterable[tuple]) -> None:
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def write_documents(
    connection: Connection, corpus_id: int, documents: Iterable[DocumentRow]
) -> dict[int, int]:
    """Store documents once each (updated in place on re-runs); document index -> row id."""
    connection.execute(
        text(
            "CREATE TEMPORARY TABLE staged_documents "
            "(index bigint, external_id text, tokens text[], meta jsonb) ON COMMIT DROP"
        )
    )
    _copy(
        connection,
        "COPY staged_documents (index, external_id, tokens, meta) FROM STDIN",
        ((row.index, row.external_id, row.tokens, json.dumps(row.meta)) for row in documents),
    )
    rows = connection.execute(
        text(
            "INSERT INTO documents (corpus_id, external_id, tokens, meta) "
            "SELECT :corpus_id, external_id, tokens, meta FROM staged_documents ORDER BY index "
            "ON CONFLICT (corpus_id, external_id) DO UPDATE "
            "SET tokens = EXCLUDED.tokens, meta = EXCLUDED.meta RETURNING id, external_id"
        ),
        {"corpus_id": corpus_id},
    ).all()
    id_by_external = {external_id: document_id for document_id, external_id in rows}
    index_rows = connection.execute(text("SELECT index, external_id FROM staged_documents")).all()
    connection.execute(
        text("UPDATE corpora SET n_documents = :n WHERE id = :corpus_id"),
        {"n": len(index_rows), "corpus_id": corpus_id},
    )
    connection.execute(text("DROP TABLE staged_documents"))
    return {index: id_by_external[external_id] for index, external_id in index_rows}


def ensure_features(connection: Connection, sae_id: int, group_sizes: list[int]) -> None:
    """Create any missing `features` rows of the SAE (an import normally made them)."""
    for group, (first, size) in enumerate(_group_ranges(group_sizes)):
        connection.execute(
            text(
                'INSERT INTO features (sae_id, index, "group") '
                "SELECT :sae_id, i, :group FROM generate_series(CAST(:first AS integer), "
                "CAST(:last AS integer)) AS i "
                "ON CONFLICT (sae_id, index) DO NOTHING"
            ),
            {"sae_id": sae_id, "group": group, "first": first, "last": first + size - 1},
        )


def _group_ranges(group_sizes: list[int]) -> Iterator[tuple[int, int]]:
    first = 0
    for size in group_sizes:
        yield first, size
        first += size


def write_feature_statistics(
    connection: Connection, sae_id: int, rows: Iterable[FeatureStatisticsRow]
) -> None:
    """Overwrite the activation statistics of the SAE's features."""
    connection.execute(
        text(
            "CREATE TEMPORARY TABLE staged_statistics (index integer, frequency float8, "
            "n_active bigint, n_tokens bigint, max_activation float8, mean_activation float8, "
            "histogram_edges real[], histogram_counts bigint[]) ON COMMIT DROP"
        )
    )
    _copy(
        connection,
        "COPY staged_statistics FROM STDIN",
        (
            (
                row.index,
                row.frequency,
                row.n_active,
                row.n_tokens,
                row.max_activation,
                row.mean_activation,
                row.histogram_edges,
                row.histogram_counts,
            )
            for row in rows
        ),
    )
    connection.execute(
        text(
            "UPDATE features SET frequency = s.frequency, n_active = s.n_active, "
            "n_tokens = s.n_tokens, max_activation = s.max_activation, "
            "mean_activation = s.mean_activation, histogram_edges = s.histogram_edges, "
            "histogram_counts = s.histogram_counts "
            "FROM staged_statistics AS s WHERE features.sae_id = :sae_id "
            "AND features.index = s.index"
        ),
        {"sae_id": sae_id},
    )
    connection.execute(text("DROP TABLE staged_statistics"))


def replace_examples(
    connection: Connection, sae_id: int, corpus_id: int, rows: Iterable[ExampleRow]
) -> int:
    """Delete the SAE's examples on this corpus and COPY `rows` in; returns how many."""
    connection.execute(
        text(
            "DELETE FROM examples WHERE corpus_id = :corpus_id AND feature_id IN "
            "(SELECT id FROM features WHERE sae_id = :sae_id)"
        ),
        {"sae_id": sae_id, "corpus_id": corpus_id},
    )
    feature_ids = dict(
        connection.execute(
            text("SELECT index, id FROM features WHERE sae_id = :sae_id"), {"sae_id": sae_id}
        ).all()
    )
    count = 0

    def with_ids() -> Iterator[tuple]:
        nonlocal count
        for row in rows:
            count += 1
            yield (
                feature_ids[row.feature_index],
                corpus_id,
                row.document_id,
                row.kind,
                row.rank,
                row.start,
                row.end,
                row.values,
                row.max_value,
                row.max_position,
                row.bin_min,
                row.bin_max,
                row.bin_share,
            )

    _copy(
        connection,
        'COPY examples (feature_id, corpus_id, document_id, kind, rank, start, "end", values, '
        "max_value, max_position, bin_min, bin_max, bin_share) FROM STDIN",
        with_ids(),
    )
    return count


def replace_window_sample(
    connection: Connection, sae_id: int, corpus_id: int, rows: Iterable[WindowSampleRow]
) -> int:
    """Replace the pair's window sample with `rows` (COPY); returns how many."""
    connection.execute(
        text("DELETE FROM window_samples WHERE sae_id = :sae_id AND corpus_id = :corpus_id"),
        {"sae_id": sae_id, "corpus_id": corpus_id},
    )
    count = 0

    def numbered() -> Iterator[tuple]:
        nonlocal count
        for row in rows:
            count += 1
            yield (
                sae_id,
                corpus_id,
                row.document_id,
                row.position,
                row.start,
                row.end,
                row.seed,
                row.feature_indices,
                row.feature_maxima,
            )

    _copy(
        connection,
        'COPY window_samples (sae_id, corpus_id, document_id, position, start, "end", seed, '
        "feature_indices, feature_maxima) FROM STDIN",
        numbered(),
    )
    return count
