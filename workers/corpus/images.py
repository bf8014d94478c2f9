"""Finds each report's frontal and lateral image in a folder: a projections CSV, else `<id>.png`."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm")


@dataclass
class ImageIndex:
    """Report id -> image files; built from a folder by `from_folder`."""

    folder: Path
    frontal: dict[str, Path] = field(default_factory=dict)
    lateral: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def from_folder(cls, folder: Path) -> ImageIndex:
        """Read the first CSV in `folder` with uid/filename/projection columns, if there is one."""
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such image folder")
        index = cls(folder)
        for mapping_file in sorted(folder.glob("*.csv")):
            if index._read_mapping(mapping_file):
                break
        return index

    def _read_mapping(self, mapping_file: Path) -> bool:
        with mapping_file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = {name.strip().lower(): name for name in reader.fieldnames or []}
            id_column = columns.get("uid") or columns.get("study_id")
            if id_column is None or "filename" not in columns or "projection" not in columns:
                return False
            for row in reader:
                report_id = row[id_column].strip()
                target = (
                    self.lateral
                    if row[columns["projection"]].strip().lower() == "lateral"
                    else self.frontal
                )
                image = self.folder / row[columns["filename"]].strip()
                if report_id not in target and image.is_file():
                    target[report_id] = image
        return True

    def find(self, report_id: str) -> tuple[Path | None, Path | None]:
        """(frontal, lateral) image paths for a report; a lone `<id>.png` counts as frontal."""
        frontal = self.frontal.get(report_id)
        if frontal is None:
            for suffix in IMAGE_SUFFIXES:
                candidate = self.folder / f"{report_id}{suffix}"
                if candidate.is_file():
                    frontal = candidate
                    break
        return frontal, self.lateral.get(report_id)
