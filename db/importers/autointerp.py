"""`maira-sae import-autointerp CSV --sae SLUG`: upserts a released label CSV's explanations and
detection scores for one SAE, reporting unknown columns and rejected rows instead of aborting.

Columns are matched by alias (`db.importers.autointerp_columns`); val/valid/validation/test/heldout
metrics become the 'heldout' split. Row numbers count the header as row 1, as a spreadsheet shows
them. Explanations are keyed by `source_key = 'csv:' + file name`, so re-running the same file
updates rows in place; nothing is ever deleted.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import json
import logging
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from db.aggregates import refresh_sae_aggregates
from db.importers import ImporterError
from db.importers.autointerp_columns import METRICS, SPLITS, ColumnMap, map_columns
from db.labels import refresh_primary_labels
from db.models import Feature, Sae

logger = logging.getLogger(__name__)

SCORE_KIND = "detection"
SKIPPED_SHOWN = 20
MISSING_VALUES = frozenset({"", "nan", "none", "null", "na", "n/a"})
INT4_MAX = 2**31 - 1
ENCODING_NAMES = {"cp1252": "Windows-1252 (Latin-1)", "latin-1": "ISO-8859-1 (Latin-1)"}


@dataclass(frozen=True)
class SkippedRow:
    """A CSV row that was not imported, and why."""

    row: int
    reason: str


@dataclass
class ImportReport:
    """What one import did."""

    file_name: str
    sae_slug: str
    rows_read: int = 0
    imported: int = 0
    new_explanations: int = 0
    changed_explanations: int = 0
    scores: int = 0
    labels_changed: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    column_roles: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        """The lines the command prints."""
        unchanged = self.imported - self.new_explanations - self.changed_explanations
        lines = [
            f"{self.file_name} -> sae {self.sae_slug!r}: imported {self.imported} of "
            f"{self.rows_read} rows ({self.new_explanations} new explanations, "
            f"{self.changed_explanations} changed, {unchanged} unchanged; {self.scores} scores; "
            f"{self.labels_changed} feature labels changed)",
            "columns: " + "; ".join(self.column_roles),
        ]
        if self.unknown_columns:
            lines.append("unknown columns kept as extras: " + ", ".join(self.unknown_columns))
        lines += [f"note: {note}" for note in self.notes]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} rows:")
            lines += [f"  row {item.row}: {item.reason}" for item in self.skipped[:SKIPPED_SHOWN]]
            if len(self.skipped) > SKIPPED_SHOWN:
                lines.append(f"  ... and {len(self.skipped) - SKIPPED_SHOWN} more")
        return lines


class _BadRow(Exception):
    """A row-level validation failure (message = reason)."""


@dataclass
class _Rows:
    """Valid rows as parallel columns, ready to bind as PostgreSQL arrays."""

    columns: ColumnMap
    header: list[str]
    d_sae: int
    file_name: str
    feature_ids_by_index: dict[int, int]
    first_row_of: dict[int, int] = field(default_factory=dict)
    feature_ids: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    provenances: list[str] = field(default_factory=list)
    counts: list[int | None] = field(default_factory=list)
    metrics: dict[tuple[str, str], list[float | int | None]] = field(default_factory=dict)

    def add(self, values: list[str], row_number: int) -> None:
        """Validate one CSV record and append it, or raise _BadRow."""
        columns, header = self.columns, self.header
        if len(values) != len(header):
            raise _BadRow(f"{len(values)} fields, the header has {len(header)}")
        for position, value in enumerate(values):
            if "\x00" in value:
                raise _BadRow(f"{header[position]!r} contains a NUL character (a binary byte)")
        index = _parse_index(values[columns.index], self.d_sae)
        label = values[columns.label].strip()
        if not label:
            raise _BadRow("empty label")
        parsed = {
            role: _parse_metric(values[position], header[position], role[1])
            for role, position in columns.metrics.items()
        }
        count = None
        if columns.count is not None:
            count = _parse_count(values[columns.count], header[columns.count])
        if index in self.first_row_of:
            first = self.first_row_of[index]
            raise _BadRow(f"duplicate feature index {index} (first on row {first})")
        if index not in self.feature_ids_by_index:
            raise _BadRow(f"the SAE has no feature row with index {index}")
        self.first_row_of[index] = row_number
        provenance: dict[str, object] = {"file": self.file_name, "row": row_number}
        extras = {name: values[position] for name, position in columns.extras.items()}
        if extras:
            provenance["extras"] = extras
        if count is not None:
            provenance["n"] = count
        self.feature_ids.append(self.feature_ids_by_index[index])
        self.texts.append(label)
        self.provenances.append(json.dumps(provenance))
        self.counts.append(count)
        for role, value in parsed.items():
            self.metrics.setdefault(role, []).append(value)


def import_autointerp(session: Session, path: Path, sae_slug: str) -> ImportReport:
    """Upsert the CSV's explanations and scores for SAE `sae_slug`, then refresh primary labels.

    Raises ImporterError when the SAE is unknown or the file lacks an index or label column;
    bad rows are reported in the result and skipped. The caller commits.
    """
    sae = session.scalar(select(Sae).where(Sae.slug == sae_slug))
    if sae is None:
        raise ImporterError(f"no SAE named {sae_slug!r}; import it first with import-sae")
    feature_ids = dict(
        session.execute(select(Feature.index, Feature.id).where(Feature.sae_id == sae.id)).all()
    )
    report = ImportReport(file_name=path.name, sae_slug=sae_slug)
    rows = _read(path, sae.d_sae, feature_ids, report)
    if rows.feature_ids:
        _upsert(session, rows, "csv:" + path.name, report)
    report.labels_changed = refresh_primary_labels(session, sae.id)
    refresh_sae_aggregates(session, sae.id)
    logger.info("imported %d of %d rows from %s", report.imported, report.rows_read, path)
    return report


def _read(path: Path, d_sae: int, feature_ids: dict[int, int], report: ImportReport) -> _Rows:
    encoding = detect_encoding(path)
    if encoding != "utf-8-sig":
        report.notes.append(
            f"the file is not UTF-8; it was read as {ENCODING_NAMES[encoding]}. If labels show "
            "wrong characters, save the file as UTF-8 (CSV UTF-8) and import it again"
        )
    with path.open(encoding=encoding, newline="") as handle:
        header_line = handle.readline()
        handle.seek(0)
        reader = csv.reader(handle, delimiter=_delimiter(header_line), strict=False)
        header = next(reader, None)
        if not header:
            raise ImporterError(f"{path.name}: the file is empty (no header row)")
        columns = map_columns(header, path.name)
        report.column_roles = columns.describe(header)
        report.unknown_columns = list(columns.extras)
        report.notes += columns.notes
        rows = _Rows(columns, header, d_sae, path.name, feature_ids)
        for first_line, last_line, values, problem in _records(reader):
            if values == []:
                continue
            report.rows_read += 1
            try:
                if problem:
                    raise _BadRow(problem)
                if last_line > first_line:
                    raise _BadRow(
                        f'the row runs over lines {first_line}-{last_line}: a quote (") opened '
                        "in it is never closed, or a value holds a line break; rows inside it "
                        "were not read"
                    )
                rows.add(values, first_line)
            except _BadRow as bad:
                report.skipped.append(SkippedRow(first_line, str(bad)))
    lines = _count_data_lines(path)
    if report.rows_read < lines:
        report.notes.append(
            f"the file has {lines:,} non-empty lines after the header but parsed into "
            f"{report.rows_read:,} rows: check the skipped rows for an unclosed quote"
        )
    return rows


def _records(reader: Any) -> Iterator[tuple[int, int, list[str], str | None]]:
    """(first line, last line, values, problem) per record; a record the csv module refuses
    (a value over `csv.field_size_limit()`, 128 KB) comes with its problem instead of ending the
    import."""
    previous = reader.line_num
    while True:
        try:
            values = next(reader)
            problem = None
        except StopIteration:
            return
        except csv.Error as error:
            values = None
            problem = (
                f"a value is longer than {csv.field_size_limit() // 1024} KB"
                if "field limit" in str(error)
                else f"unreadable CSV ({error})"
            )
        yield previous + 1, reader.line_num, values or [""], problem
        previous = reader.line_num


def detect_encoding(path: Path) -> str:
    """'utf-8-sig' when the whole file decodes as UTF-8, else 'cp1252' (Windows Latin-1, what
    Excel writes), else 'latin-1' (which decodes any bytes). Reads the file in chunks."""
    candidates = ["utf-8-sig", "cp1252"]
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ImporterError(f"cannot read {path}: {error.strerror}") from None
    with handle:
        decoders = {name: codecs.getincrementaldecoder(name)() for name in candidates}
        while chunk := handle.read(1 << 20):
            for name in list(decoders):
                try:
                    decoders[name].decode(chunk)
                except UnicodeDecodeError:
                    del decoders[name]
        for name in list(decoders):
            try:
                decoders[name].decode(b"", final=True)
            except UnicodeDecodeError:
                del decoders[name]
    return next((name for name in candidates if name in decoders), "latin-1")


def _count_data_lines(path: Path) -> int:
    """Non-empty lines after the first (the header), counted in bytes."""
    count = 0
    with path.open("rb") as handle:
        next(handle, None)
        for line in handle:
            count += bool(line.strip())
    return count


def _parse_index(raw: str, d_sae: int) -> int:
    value = raw.strip()
    try:
        number = float(value)
    except ValueError:
        raise _BadRow(f"feature index {value!r} is not an integer") from None
    if not number.is_integer():
        raise _BadRow(f"feature index {value!r} is not an integer")
    index = int(number)
    if not 0 <= index < d_sae:
        raise _BadRow(f"feature index {index} is outside 0..{d_sae - 1} (d_sae = {d_sae})")
    return index


def _parse_metric(raw: str, column: str, metric: str) -> float | int | None:
    value = raw.strip()
    if value.lower() in MISSING_VALUES:
        return None
    if metric == "n":
        return _parse_count(value, column)
    try:
        number = float(value)
    except ValueError:
        raise _BadRow(f"{column} = {value!r} is not a number") from None
    if math.isnan(number):
        return None
    if not 0.0 <= number <= 1.0:
        raise _BadRow(f"{column} = {value} is outside [0, 1]")
    return number


def _parse_count(raw: str, column: str) -> int | None:
    value = raw.strip()
    if value.lower() in MISSING_VALUES:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0 or not number.is_integer():
        raise _BadRow(f"{column} = {value!r} is not a non-negative integer")
    if number > INT4_MAX:
        raise _BadRow(f"{column} = {value} is larger than the largest count stored, {INT4_MAX:,}")
    return int(number)


def _delimiter(header_line: str) -> str:
    """The most frequent of comma, tab and semicolon in the header line (comma on a tie)."""
    return max((",", "\t", ";"), key=header_line.count)


# Rows whose text and provenance are unchanged are filtered out before the insert (forming the
# tuple would compute its tsvector), so a re-run costs one join; RETURNING lists only inserted
# or changed rows.
_UPSERT_EXPLANATIONS = text(
    """
    WITH input AS (
        SELECT row.feature_id, row.text, CAST(row.provenance AS jsonb) AS provenance
        FROM unnest(CAST(:feature_ids AS bigint[]), CAST(:texts AS text[]),
                    CAST(:provenances AS text[])) AS row(feature_id, text, provenance)
    )
    INSERT INTO explanations (feature_id, text, source, source_key, provenance)
    SELECT input.feature_id, input.text, 'csv', :source_key, input.provenance
    FROM input
    LEFT JOIN explanations AS existing
        ON existing.feature_id = input.feature_id AND existing.source_key = :source_key
    WHERE existing.id IS NULL
       OR (existing.text, existing.provenance) IS DISTINCT FROM (input.text, input.provenance)
    ON CONFLICT (feature_id, source_key)
    DO UPDATE SET text = EXCLUDED.text, provenance = EXCLUDED.provenance
    RETURNING xmax = 0 AS inserted
    """
)

_EXPLANATION_IDS = text(
    """
    SELECT feature_id, id FROM explanations
    WHERE source_key = :source_key AND feature_id = ANY(CAST(:feature_ids AS bigint[]))
    """
)

_UPSERT_SCORES = text(
    """
    INSERT INTO scores (explanation_id, kind, split, accuracy, balanced_accuracy, precision,
                        recall, f1, n)
    SELECT row.explanation_id, :kind, :split, row.accuracy, row.balanced_accuracy, row.precision,
           row.recall, row.f1, row.n
    FROM unnest(CAST(:explanation_ids AS bigint[]), CAST(:accuracy AS float8[]),
                CAST(:balanced_accuracy AS float8[]), CAST(:precision AS float8[]),
                CAST(:recall AS float8[]), CAST(:f1 AS float8[]), CAST(:n AS int[]))
         AS row(explanation_id, accuracy, balanced_accuracy, precision, recall, f1, n)
    WHERE num_nonnulls(row.accuracy, row.balanced_accuracy, row.precision, row.recall, row.f1) > 0
    ON CONFLICT (explanation_id, kind, split) DO UPDATE SET
        accuracy = EXCLUDED.accuracy, balanced_accuracy = EXCLUDED.balanced_accuracy,
        precision = EXCLUDED.precision, recall = EXCLUDED.recall, f1 = EXCLUDED.f1, n = EXCLUDED.n
    WHERE (scores.accuracy, scores.balanced_accuracy, scores.precision, scores.recall, scores.f1,
           scores.n) IS DISTINCT FROM (EXCLUDED.accuracy, EXCLUDED.balanced_accuracy,
           EXCLUDED.precision, EXCLUDED.recall, EXCLUDED.f1, EXCLUDED.n)
    """
)


def _upsert(session: Session, rows: _Rows, source_key: str, report: ImportReport) -> None:
    keys = {"source_key": source_key, "feature_ids": rows.feature_ids}
    inserted = session.scalars(
        _UPSERT_EXPLANATIONS, keys | {"texts": rows.texts, "provenances": rows.provenances}
    ).all()
    report.imported = len(rows.feature_ids)
    report.new_explanations = sum(inserted)
    report.changed_explanations = len(inserted) - report.new_explanations
    id_by_feature = dict(session.execute(_EXPLANATION_IDS, keys).all())
    explanation_ids = [id_by_feature[feature_id] for feature_id in rows.feature_ids]
    empty = [None] * len(explanation_ids)
    for split in SPLITS:
        metrics = {metric: rows.metrics.get((split, metric)) for metric in METRICS}
        present = [values for values in metrics.values() if values is not None]
        if not present:
            continue
        counts = rows.metrics.get((split, "n")) or rows.counts
        session.execute(
            _UPSERT_SCORES,
            {"kind": SCORE_KIND, "split": split, "explanation_ids": explanation_ids, "n": counts}
            | {metric: values or empty for metric, values in metrics.items()},
        )
        report.scores += sum(
            any(value is not None for value in row_values)
            for row_values in zip(*present, strict=True)
        )


def command(args: argparse.Namespace) -> int:
    """CLI target: import the CSV, commit, print the summary; exit 2 on an unusable input."""
    from db.importers.session import command_session

    try:
        with command_session() as session:
            report = import_autointerp(session, args.csv, args.sae)
            session.commit()
    except ImporterError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    print("\n".join(report.summary()))  # noqa: T201
    return 0
