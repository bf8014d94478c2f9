"""Times `synthetic` in a fresh database against a bare COPY of the same example bytes, and
`import-autointerp` of a CSV with one row per feature.

Usage: .venv/bin/python bench/bench_import.py [--features 32768 --examples 64 --tokens 64]
       [--reports ../shared/data/openi_reports.csv]
The database is created on MAIRA_SAE_TEST_DATABASE_URL's server (default: local PostgreSQL, else
an embedded one), migrated, and dropped afterwards.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db.driver import driver_connection
from db.engine import make_engine
from db.importers.autointerp import import_autointerp
from db.importers.synthetic import (
    EXAMPLE_COLUMNS,
    SyntheticOptions,
    build_synthetic,
    vacuum_analyze,
)
from tests.support.databases import server_url, temporary_database

SLUG = "bench-synthetic"


def bench_synthetic(session: Session, options: SyntheticOptions) -> float:
    started = time.perf_counter()
    report = build_synthetic(session, options)
    session.commit()
    vacuum_analyze(session.get_bind())
    seconds = time.perf_counter() - started
    print(report.summary(options.name))
    print(f"synthetic {options.features} x {options.examples} x {options.tokens}: {seconds:.1f} s")
    return seconds


def bench_bare_copy(session: Session, import_seconds: float) -> None:
    """COPY the imported examples' exact binary rows into tables without constraints."""
    columns = ", ".join(f'"{name}"' for name in EXAMPLE_COLUMNS)
    connection = driver_connection(session)
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        query = f"COPY (SELECT {columns} FROM examples) TO STDOUT (FORMAT BINARY)"
        with cursor.copy(query) as copy:
            for block in copy:
                buffer.write(block)
    payload = buffer.getvalue()
    session.commit()
    for variant, indexes in (
        ("bare COPY (no indexes, no foreign keys)", ()),
        (
            "COPY with the same indexes, no foreign keys",
            ("(feature_id, kind, bin_min, rank)", "(corpus_id)", "(id)"),
        ),
    ):
        session.execute(text("DROP TABLE IF EXISTS bench_examples"))
        session.execute(text("CREATE TABLE bench_examples (LIKE examples INCLUDING DEFAULTS)"))
        for index in indexes:
            session.execute(text(f"CREATE INDEX ON bench_examples {index}"))
        session.commit()
        started = time.perf_counter()
        with driver_connection(session).cursor() as cursor:
            copy_sql = f"COPY bench_examples ({columns}) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(copy_sql) as copy:
                view = memoryview(payload)
                for start in range(0, len(payload), 1 << 20):
                    copy.write(view[start : start + (1 << 20)])
        session.commit()
        seconds = time.perf_counter() - started
        print(
            f"{variant}: {seconds:.1f} s for {len(payload) / 1e6:.0f} MB; "
            f"import = {import_seconds:.1f} s = {import_seconds / seconds:.1f} x this"
        )
    session.execute(text("DROP TABLE bench_examples"))
    session.commit()


def bench_autointerp(session: Session, n_features: int, folder: Path) -> None:
    rng = np.random.default_rng(0)
    path = folder / "ef-bench.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["feature_idx", "explanation", "train_accuracy", "train_f1", "val_accuracy",
             "val_precision", "val_recall", "val_f1", "n", "notes"]
        )  # fmt: skip
        metrics = rng.random((n_features, 6)).round(4)
        for index in range(n_features):
            writer.writerow(
                [index, f"feature {index}: pleural effusion, left", *metrics[index], 50, "x"]
            )
    for run in ("first run", "re-run"):
        started = time.perf_counter()
        report = import_autointerp(session, path, SLUG)
        session.commit()
        seconds = time.perf_counter() - started
        print(
            f"import-autointerp {report.rows_read} rows ({run}): {seconds:.1f} s, "
            f"{report.imported} imported, {report.new_explanations} new, "
            f"{report.labels_changed} labels changed"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=32_768)
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--reports", type=Path)
    args = parser.parse_args()
    options = SyntheticOptions(
        name=SLUG,
        features=args.features,
        examples=args.examples,
        tokens=args.tokens,
        reports=args.reports,
    )
    with temporary_database(server_url()) as url, tempfile.TemporaryDirectory() as folder:
        engine = make_engine(url)
        with Session(engine) as session:
            import_seconds = bench_synthetic(session, options)
            bench_bare_copy(session, import_seconds)
            bench_autointerp(session, args.features, Path(folder))
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
