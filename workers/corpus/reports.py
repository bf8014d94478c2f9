"""Streams report CSVs (OpenI and MIMIC-CXR conventions) as `Report` records, mapped by alias."""

from __future__ import annotations

import csv
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workers.corpus.images import ImageIndex

log = logging.getLogger(__name__)

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("uid", "study_id", "studyid", "report_id", "id", "dicom_id"),
    "findings": ("findings", "findings_section", "finding"),
    "impression": ("impression", "impressions", "impression_section", "conclusion"),
    "indication": (
        "indication",
        "indications",
        "history",
        "clinical_history",
        "reason_for_exam",
        "reason",
    ),
    "comparison": ("comparison", "comparisons", "prior"),
    "technique": ("technique", "examination", "exam"),
    "subject": ("subject_id", "patient_id"),
    "problems": ("problems", "labels"),
}
EMPTY_VALUES = frozenset({"", "none", "none.", "n/a", "na", "nan"})


class CorpusError(ValueError):
    """A report file that cannot be read as a corpus; the message says what is wrong."""


@dataclass(frozen=True)
class Report:
    """One report of a corpus, numbered in file order among the reports that were kept."""

    index: int
    external_id: str
    text: str
    section: str
    indication: str | None = None
    comparison: str | None = None
    technique: str | None = None
    frontal: Path | None = None
    lateral: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def meta(self) -> dict[str, Any]:
        """What the documents table keeps about the report besides its tokens."""
        meta: dict[str, Any] = {"index": self.index, "section": self.section}
        for name in ("indication", "comparison", "technique"):
            value = getattr(self, name)
            if value:
                meta[name] = value
        if self.frontal is not None:
            meta["frontal"] = self.frontal.name
        if self.lateral is not None:
            meta["lateral"] = self.lateral.name
        meta.update(self.extra)
        return meta


def _normalise(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def map_columns(header: list[str]) -> dict[str, str]:
    """Our field name -> the CSV's column name, for each field the header has."""
    by_name = {_normalise(column): column for column in header}
    mapping: dict[str, str] = {}
    for name, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in by_name:
                mapping[name] = by_name[alias]
                break
    return mapping


def _value(row: dict[str, str], mapping: dict[str, str], name: str) -> str | None:
    column = mapping.get(name)
    if column is None:
        return None
    value = (row.get(column) or "").strip()
    return None if value.lower() in EMPTY_VALUES else value


@dataclass
class ReportReader:
    """Iterating yields the kept reports; afterwards `n_rows`/`skipped` say what was dropped."""

    path: Path
    images: ImageIndex | None = None
    limit: int | None = None
    n_rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def text_only(self) -> bool:
        return self.images is None

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def __iter__(self) -> Iterator[Report]:
        self.n_rows = 0
        self.skipped = {}
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            mapping = map_columns(list(reader.fieldnames or []))
            if "id" not in mapping or not {"findings", "impression"} & mapping.keys():
                raise CorpusError(
                    f"{self.path}: not a report CSV: expected an id column "
                    f"({', '.join(COLUMN_ALIASES['id'])}) and a findings or impression column; "
                    f"found {', '.join(reader.fieldnames or []) or 'no header'}"
                )
            seen: dict[str, int] = {}
            index = 0
            for row in reader:
                if self.limit is not None and index >= self.limit:
                    break
                self.n_rows += 1
                report = self._report(row, mapping, index, seen)
                if report is not None:
                    index += 1
                    yield report
        if self.skipped:
            log.info(
                "%s: kept %d of %d rows, skipped %s", self.path, index, self.n_rows, self.skipped
            )

    def _report(
        self, row: dict[str, str], mapping: dict[str, str], index: int, seen: dict[str, int]
    ) -> Report | None:
        external_id = _value(row, mapping, "id")
        if external_id is None:
            self._skip("no id")
            return None
        findings = _value(row, mapping, "findings")
        impression = _value(row, mapping, "impression")
        if findings is None and impression is None:
            self._skip("no findings or impression")
            return None
        frontal = lateral = None
        if self.images is not None:
            frontal, lateral = self.images.find(external_id)
            if frontal is None:
                self._skip("no frontal image")
                return None
        seen[external_id] = seen.get(external_id, 0) + 1
        if seen[external_id] > 1:
            external_id = f"{external_id}#{seen[external_id]}"
        extra = {
            name: value
            for name in ("subject", "problems")
            if (value := _value(row, mapping, name)) is not None
        }
        return Report(
            index=index,
            external_id=external_id,
            text=findings if findings is not None else impression or "",
            section="findings" if findings is not None else "impression",
            indication=_value(row, mapping, "indication"),
            comparison=_value(row, mapping, "comparison"),
            technique=_value(row, mapping, "technique"),
            frontal=frontal,
            lateral=lateral,
            extra=extra,
        )


def read_reports(path: Path, images: Path | None = None, limit: int | None = None) -> ReportReader:
    """A re-iterable reader of `path`; `images` is a folder (see `ImageIndex`), None = text only."""
    if not path.is_file():
        raise CorpusError(f"{path}: no such report file")
    return ReportReader(path, ImageIndex.from_folder(images) if images is not None else None, limit)
