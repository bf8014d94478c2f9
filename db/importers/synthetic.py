"""`maira-sae synthetic`: a realistic synthetic SAE dataset of any size, written by binary COPY.

One SAE (model 'maira-2-synthetic', no weights file) with N features, a corpus of documents
(generated radiology text, or report text cut from `--reports`), M top examples and
INTERVAL_BUCKETS x PER_BUCKET interval examples per live feature, one explanation per live feature
with train and held-out detection scores, a window sample (each document's first 32 tokens),
then the primary labels. The distributions are
documented in `db.importers.synthetic_data`.

Re-running with the same name replaces that SAE's synthetic data in one transaction (the old SAE,
its corpus, documents, examples and explanations are deleted first); a name that belongs to an SAE
imported from weights is refused. The examples table's foreign keys are suspended for the load and
validated once at the end (`db.importers.foreign_keys`), which locks the table until the commit.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session

from db.aggregates import refresh_sae_aggregates
from db.driver import driver_connection
from db.importers import ImporterError
from db.importers.binary_copy import (
    Column,
    binary_copy,
    constant_text,
    null,
    pack_rows,
)
from db.importers.foreign_keys import restore_foreign_keys, suspend_foreign_keys
from db.importers.saes import SaeSpec, add_sae_row
from db.importers.synthetic_data import (
    INTERVAL_BUCKETS,
    PER_BUCKET,
    Examples,
    FeatureStats,
    Scores,
    detection_scores,
    feature_stats,
    group_sizes,
    interval_examples,
    random_neighbours,
    top_examples,
)
from db.importers.synthetic_text import (
    generate_documents,
    generate_labels,
    read_report_documents,
)
from db.labels import refresh_primary_labels
from db.models import Corpus, LanguageModel, Sae

logger = logging.getLogger(__name__)

SYNTHETIC_MODEL = "maira-2-synthetic"
EXPLANATION_KEY = "synthetic"
NEIGHBOURS = 16
K = 256
TOKENS_PER_EXAMPLE_PER_DOCUMENT = 128
MIN_DOCUMENTS, MAX_DOCUMENTS = 64, 20_000
MIN_REPORT_TOKENS = 8
FEATURES_PER_CHUNK = 512
WINDOW_SAMPLE = 4096
WINDOW_TOKENS = 32
"""Documents in the window sample (autointerp's non-activating examples)."""
FEATURE_COLUMNS = (
    "sae_id", "index", "group", "frequency", "n_active", "n_tokens", "max_activation",
    "mean_activation", "histogram_edges", "histogram_counts", "neighbour_indices",
    "neighbour_cosines",
)  # fmt: skip
EXAMPLE_COLUMNS = (
    "feature_id", "corpus_id", "document_id", "kind", "rank", "start", "end", "max_value",
    "max_position", "bin_min", "bin_max", "bin_share", "values",
)  # fmt: skip
SCORE_COLUMNS = (
    "explanation_id", "kind", "split", "accuracy", "balanced_accuracy", "precision", "recall",
    "f1", "n",
)  # fmt: skip
LOADED_TABLES = ("features", "documents", "examples", "explanations", "scores")


@dataclass(frozen=True)
class SyntheticOptions:
    """What to generate."""

    name: str
    features: int
    examples: int = 64
    tokens: int = 64
    reports: Path | None = None
    d_in: int = 4096
    seed: int = 0


@dataclass
class SyntheticReport:
    """Counts and per-step timings of one run."""

    sae_id: int = 0
    replaced: bool = False
    features: int = 0
    live_features: int = 0
    documents: int = 0
    examples: int = 0
    example_bytes: int = 0
    explanations: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.seconds[step] = time.perf_counter() - started
        logger.info("%s: %.2f s", step, self.seconds[step])

    def summary(self, name: str) -> str:
        steps = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in self.seconds.items())
        verb = "replaced" if self.replaced else "created"
        return (
            f"{verb} synthetic SAE {name!r}: {self.features} features ({self.live_features} live), "
            f"{self.documents} documents, {self.examples} examples "
            f"({self.example_bytes / 1e6:.0f} MB of values), {self.explanations} explanations "
            f"in {sum(self.seconds.values()):.1f} s ({steps})"
        )


def build_synthetic(session: Session, options: SyntheticOptions) -> SyntheticReport:
    """Generate and write the dataset in the session's transaction; the caller commits."""
    if options.features < 2:
        raise ImporterError("--features must be at least 2")
    report = SyntheticReport(features=options.features)
    rng = np.random.default_rng(options.seed)
    suspended = suspend_foreign_keys(session, "examples")
    _build(session, options, rng, report)
    with report.timed("foreign keys"):
        restore_foreign_keys(session, "examples", suspended)
    with report.timed("labels"):
        refresh_primary_labels(session, report.sae_id)
        refresh_sae_aggregates(session, report.sae_id)
    return report


def vacuum_analyze(engine: Engine) -> None:
    """VACUUM ANALYZE the loaded tables, after the commit.

    Fresh planner statistics, a visibility map for index-only counts and an empty GIN pending
    list: without this a just-imported 32k-feature SAE searches ~25x slower until autovacuum.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in LOADED_TABLES:
            connection.execute(text(f"VACUUM ANALYZE {table}"))


def _build(
    session: Session, options: SyntheticOptions, rng: np.random.Generator, report: SyntheticReport
) -> None:
    """Everything that touches examples, run while their foreign keys are suspended."""
    with report.timed("delete previous"):
        report.replaced = _delete_previous(session, options.name)
    with report.timed("documents"):
        corpus_id, document_ids, document_lengths = _write_documents(session, options, rng, report)
    with report.timed("features"):
        report.sae_id, feature_ids, stats = _write_sae_and_features(
            session, options, rng, int(document_lengths.sum())
        )
    live = np.flatnonzero(stats.live)
    report.live_features = len(live)
    with report.timed("examples"):
        _write_examples(
            session, options, rng, live, stats.max_activation, feature_ids,
            corpus_id, document_ids, document_lengths, report,
        )  # fmt: skip
    with report.timed("window sample"):
        _write_window_sample(session, report.sae_id, corpus_id)
    with report.timed("explanations"):
        _write_explanations(session, rng, feature_ids[live])
        report.explanations = len(live)


def _delete_previous(session: Session, name: str) -> bool:
    existing = session.execute(
        select(Sae.id, LanguageModel.slug).join(LanguageModel).where(Sae.slug == name)
    ).one_or_none()
    corpus_slug = _corpus_slug(name)
    corpus_id = session.scalar(select(Corpus.id).where(Corpus.slug == corpus_slug))
    if existing is None and corpus_id is None:
        return False
    if existing is not None and existing.slug != SYNTHETIC_MODEL:
        raise ImporterError(
            f"SAE {name!r} was imported from weights (model {existing.slug!r}); "
            "choose another --name for synthetic data"
        )
    # Examples' foreign keys are suspended (no cascades): delete them explicitly first.
    if corpus_id is not None:
        session.execute(text("DELETE FROM examples WHERE corpus_id = :id"), {"id": corpus_id})
        session.execute(delete(Corpus).where(Corpus.id == corpus_id))
    if existing is not None:
        session.execute(
            text(
                "DELETE FROM examples WHERE feature_id IN"
                " (SELECT id FROM features WHERE sae_id = :sae)"
            ),
            {"sae": existing.id},
        )
        session.execute(delete(Sae).where(Sae.id == existing.id))
    logger.info("deleted the previous synthetic dataset %r", name)
    return True


def _corpus_slug(name: str) -> str:
    return f"synthetic:{name}"


def allocate_ids(session: Session, table: str, n: int) -> np.ndarray:
    """`n` fresh ids from the table's id sequence (for COPY rows that others must reference)."""
    ids = session.scalars(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": table, "n": n},
    ).all()
    return np.array(ids, dtype=np.int64)


def _write_documents(
    session: Session, options: SyntheticOptions, rng: np.random.Generator, report: SyntheticReport
) -> tuple[int, np.ndarray, np.ndarray]:
    wanted = options.features * options.examples // TOKENS_PER_EXAMPLE_PER_DOCUMENT
    wanted = min(max(wanted, MIN_DOCUMENTS), MAX_DOCUMENTS)
    if options.reports is not None:
        documents = read_report_documents(options.reports, wanted, MIN_REPORT_TOKENS)
    else:
        documents = generate_documents(rng, wanted, options.tokens)
    corpus = Corpus(
        slug=_corpus_slug(options.name),
        name=f"Synthetic corpus of {options.name}",
        source=str(options.reports) if options.reports else None,
        text_only=True,
        n_documents=len(documents),
    )
    session.add(corpus)
    session.flush()
    ids = allocate_ids(session, "documents", len(documents))
    with (
        driver_connection(session).cursor() as cursor,
        cursor.copy(
            "COPY documents (id, corpus_id, external_id, tokens) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["int8", "int4", "text", "text[]"])
        for document_id, (external_id, tokens) in zip(ids.tolist(), documents, strict=True):
            copy.write_row((document_id, corpus.id, external_id, tokens))
    report.documents = len(documents)
    lengths = np.array([len(tokens) for _, tokens in documents], dtype=np.int64)
    return corpus.id, ids, lengths


def _write_sae_and_features(
    session: Session, options: SyntheticOptions, rng: np.random.Generator, n_tokens: int
) -> tuple[int, np.ndarray, FeatureStats]:
    sizes = group_sizes(options.features)
    spec = SaeSpec(
        slug=options.name,
        layer=15,
        d_in=options.d_in,
        d_sae=options.features,
        k=min(K, options.features),
        threshold=0.1,
        group_sizes=sizes,
        config={
            "synthetic": {
                "examples": options.examples,
                "tokens": options.tokens,
                "reports": str(options.reports) if options.reports else None,
                "seed": options.seed,
            }
        },
        model_slug=SYNTHETIC_MODEL,
        description=f"Synthetic dataset: {options.features} features, generated for load tests",
    )
    sae = add_sae_row(session, spec)
    n = options.features
    per_feature = options.examples + INTERVAL_BUCKETS * PER_BUCKET
    stats = feature_stats(rng, n, n_tokens, min_active=per_feature, k=spec.k)
    indices, cosines = random_neighbours(rng, n, NEIGHBOURS)
    groups = np.repeat(np.arange(len(sizes)), sizes)
    with binary_copy(session, "features", FEATURE_COLUMNS) as copy:
        for rows, live in (
            (np.flatnonzero(stats.live), True),
            (np.flatnonzero(~stats.live), False),
        ):
            if len(rows) == 0:
                continue
            columns = [
                Column("int4", np.full(len(rows), sae.id)),
                Column("int4", rows),
                Column("int4", groups[rows]),
                Column("float8", stats.frequency[rows]),
                Column("int8", stats.n_active[rows]),
                Column("int8", np.full(len(rows), n_tokens)),
            ]
            if live:
                columns += [
                    Column("float8", stats.max_activation[rows]),
                    Column("float8", stats.mean_activation[rows]),
                    Column("float4[]", stats.histogram_edges[rows]),
                    Column("int8[]", stats.histogram_counts[rows]),
                ]
            else:
                columns += [null(), null(), null(), null()]
            columns += [Column("int4[]", indices[rows]), Column("float4[]", cosines[rows])]
            copy.write(pack_rows(columns, len(rows)))
    feature_ids = np.array(
        session.scalars(
            text("SELECT id FROM features WHERE sae_id = :sae ORDER BY index"), {"sae": sae.id}
        ).all(),
        dtype=np.int64,
    )
    return sae.id, feature_ids, stats


def _write_examples(
    session: Session,
    options: SyntheticOptions,
    rng: np.random.Generator,
    live: np.ndarray,
    max_activation: np.ndarray,
    feature_ids: np.ndarray,
    corpus_id: int,
    document_ids: np.ndarray,
    document_lengths: np.ndarray,
    report: SyntheticReport,
) -> None:
    with binary_copy(session, "examples", EXAMPLE_COLUMNS) as copy:
        for start in range(0, len(live), FEATURES_PER_CHUNK):
            chunk = live[start : start + FEATURES_PER_CHUNK]
            top = top_examples(
                rng, chunk, max_activation, options.examples, document_lengths, options.tokens
            )
            intervals = interval_examples(
                rng, chunk, max_activation, document_lengths, options.tokens
            )
            for kind, examples in (("top", top), ("interval", intervals)):
                payload = _example_rows(kind, examples, feature_ids, corpus_id, document_ids)
                copy.write(payload)
                report.examples += len(examples.feature)
                report.example_bytes += examples.values.nbytes


def _example_rows(
    kind: str,
    examples: Examples,
    feature_ids: np.ndarray,
    corpus_id: int,
    document_ids: np.ndarray,
) -> bytes:
    n = len(examples.feature)
    columns = [
        Column("int8", feature_ids[examples.feature]),
        Column("int4", np.full(n, corpus_id)),
        Column("int8", document_ids[examples.document]),
        constant_text(kind),
        Column("int4", examples.rank),
        Column("int4", examples.start),
        Column("int4", examples.end),
        Column("float8", examples.max_value),
        Column("int4", examples.max_position),
    ]
    if examples.bin_min is None:
        columns += [null(), null(), null()]
    else:
        columns += [
            Column("float8", examples.bin_min),
            Column("float8", examples.bin_max),
            Column("float8", examples.bin_share),
        ]
    byte_lengths = (examples.end - examples.start) * 4
    return pack_rows(columns, n, tail=(examples.values, byte_lengths))


_WINDOW_SAMPLE = text(
    """
    WITH drawn AS (
        SELECT id, tokens FROM documents
        WHERE corpus_id = :corpus_id AND cardinality(tokens) > 0
        ORDER BY md5(CAST(id AS text)) LIMIT :n
    ), active AS (
        SELECT e.document_id, f.index, max(e.max_value) AS peak
        FROM examples AS e JOIN features AS f ON f.id = e.feature_id
        WHERE e.document_id IN (SELECT id FROM drawn) AND e.start < :window_tokens
        GROUP BY e.document_id, f.index
    )
    INSERT INTO window_samples (sae_id, corpus_id, document_id, position, start, "end", seed,
                                feature_indices, feature_maxima)
    SELECT :sae_id, :corpus_id, d.id, row_number() OVER (ORDER BY md5(CAST(d.id AS text))) - 1,
           0, least(cardinality(d.tokens), :window_tokens), 0,
           coalesce(array_agg(a.index ORDER BY a.index) FILTER (WHERE a.index IS NOT NULL), '{}'),
           coalesce(array_agg(a.peak ORDER BY a.index) FILTER (WHERE a.index IS NOT NULL), '{}')
    FROM drawn AS d LEFT JOIN active AS a ON a.document_id = d.id
    GROUP BY d.id, d.tokens
    """
)


def _write_window_sample(session: Session, sae_id: int, corpus_id: int) -> None:
    """The window sample: the first WINDOW_TOKENS tokens of WINDOW_SAMPLE documents, each with
    the features that have an example overlapping it (the synthetic data's notion of active)
    and their largest example maxima."""
    session.execute(
        _WINDOW_SAMPLE,
        {
            "sae_id": sae_id,
            "corpus_id": corpus_id,
            "n": WINDOW_SAMPLE,
            "window_tokens": WINDOW_TOKENS,
        },
    )


def _write_explanations(
    session: Session, rng: np.random.Generator, feature_ids: np.ndarray
) -> None:
    n = len(feature_ids)
    if n == 0:
        return
    ids = allocate_ids(session, "explanations", n)
    texts = [label.encode() for label in generate_labels(rng, n)]
    data = np.frombuffer(b"".join(texts), dtype=np.uint8)
    columns = [
        Column("int8", ids),
        Column("int8", feature_ids),
        constant_text("llm"),
        constant_text(EXPLANATION_KEY),
        constant_text("synthetic"),
    ]
    with binary_copy(
        session, "explanations", ("id", "feature_id", "source", "source_key", "model_name", "text")
    ) as copy:
        copy.write(pack_rows(columns, n, tail=(data, np.array([len(t) for t in texts]))))
    train, heldout = detection_scores(rng, n)
    with binary_copy(session, "scores", SCORE_COLUMNS) as copy:
        for split, scores in (("train", train), ("heldout", heldout)):
            copy.write(pack_rows(_score_columns(ids, split, scores), n))


def _score_columns(explanation_ids: np.ndarray, split: str, scores: Scores) -> list[Column]:
    n = len(explanation_ids)
    return [
        Column("int8", explanation_ids),
        constant_text("detection"),
        constant_text(split),
        Column("float8", scores.accuracy),
        Column("float8", scores.accuracy),
        Column("float8", scores.precision),
        Column("float8", scores.recall),
        Column("float8", scores.f1),
        Column("int4", np.full(n, scores.n)),
    ]


def command(args: argparse.Namespace) -> int:
    """CLI target: build the dataset in one transaction and print what was written."""
    from db.importers.session import command_session

    options = SyntheticOptions(
        name=args.name,
        features=args.features,
        examples=args.examples,
        tokens=args.tokens,
        reports=args.reports,
        d_in=args.d_in,
        seed=args.seed,
    )
    try:
        with command_session() as session:
            report = build_synthetic(session, options)
            with report.timed("commit"):
                session.commit()
            with report.timed("vacuum analyze"):
                vacuum_analyze(session.get_bind())
    except ImporterError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    print(report.summary(options.name))  # noqa: T201
    return 0
