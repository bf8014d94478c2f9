"""Synthetic studies: real report findings paired with drawn images that show what they say.

A report qualifies when the findings labeler finds nothing uncertain in it and every positive
observation is one the renderer can draw (`radiographs.DRAWN_FINDINGS`; consolidation and
pneumonia are drawn as a lung opacity); its findings section must be short enough to learn.
`write_studies` writes the studies as a report CSV plus one `<uid>.png` per study, which
`read_reports(csv, images=folder)` reads back as imaged reports.
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from workers.corpus import read_reports
from workers.corpus.radiographs import DRAWN_FINDINGS, OPACITY, draw_radiograph
from workers.findings.labeler import Label, label_report
from workers.findings.phrases import CONSOLIDATION, LUNG_OPACITY, NO_FINDING, PNEUMONIA

NORMAL = "normal"
OPACITY_OBSERVATIONS = frozenset({LUNG_OPACITY, CONSOLIDATION, PNEUMONIA})
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class DrawnStudy:
    """One study: its report's findings text and the findings its image shows."""

    uid: str
    report: str
    findings: frozenset[str]
    seed: int

    @property
    def key(self) -> str:
        """The study's finding combination, e.g. "Cardiomegaly+Pleural Effusion" or "normal"."""
        return "+".join(sorted(self.findings)) or NORMAL

    def image(self):
        """The study's frontal image (see `radiographs.draw_radiograph`)."""
        return draw_radiograph(self.findings, self.seed)


def drawn_findings(labels: dict[str, Label]) -> frozenset[str] | None:
    """The drawable findings a report's labels assert, or None if it says anything else."""
    if any(label == Label.UNCERTAIN for label in labels.values()):
        return None
    positive = {name for name, label in labels.items() if label == Label.POSITIVE} - {NO_FINDING}
    drawn = {OPACITY if name in OPACITY_OBSERVATIONS else name for name in positive}
    if not drawn <= set(DRAWN_FINDINGS):
        return None
    return frozenset(drawn)


def report_findings(text: str) -> frozenset[str]:
    """The drawable findings a (generated) report states as present; others are ignored."""
    labels = label_report(text)
    positive = {name for name, label in labels.items() if label == Label.POSITIVE}
    drawn = {OPACITY if name in OPACITY_OBSERVATIONS else name for name in positive}
    return frozenset(drawn & set(DRAWN_FINDINGS))


def corpus_words(texts: list[str]) -> set[str]:
    """The lower-case words of a set of reports."""
    return {word for text in texts for word in _WORD.findall(text.lower())}


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def select_studies(reports_csv: Path, max_words: int = 40, seed: int = 0) -> list[DrawnStudy]:
    """The qualifying reports of a CSV (findings sections only), each with an image seed."""
    studies = []
    for report in read_reports(reports_csv):
        if report.section != "findings" or len(report.text.split()) > max_words:
            continue
        findings = drawn_findings(label_report(report.text))
        if findings is None:
            continue
        studies.append(DrawnStudy(report.external_id, report.text, findings, seed + report.index))
    return studies


def split_held_out(
    studies: list[DrawnStudy], fraction: float = 0.1, seed: int = 0
) -> tuple[list[DrawnStudy], list[DrawnStudy]]:
    """(train, held out): `fraction` of each finding combination (at least one of each finding)."""
    by_key: dict[str, list[DrawnStudy]] = defaultdict(list)
    for study in studies:
        by_key[study.key].append(study)
    rng = random.Random(seed)
    train, held_out = [], []
    for key in sorted(by_key):
        group = sorted(by_key[key], key=lambda study: study.uid)
        rng.shuffle(group)
        n_held = round(len(group) * fraction) if len(group) > 1 else 0
        if n_held == 0 and len(group) >= 3:
            n_held = 1
        held_out.extend(group[:n_held])
        train.extend(group[n_held:])
    return sorted(train, key=_in_file_order), sorted(held_out, key=_in_file_order)


def _in_file_order(study: DrawnStudy) -> int:
    return study.seed


def write_studies(studies: list[DrawnStudy], folder: Path) -> Path:
    """Write `folder/reports.csv` (uid, findings, problems) and `folder/images/<uid>.png`."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    path = folder / "reports.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uid", "findings", "problems"])
        for study in studies:
            writer.writerow([study.uid, study.report, study.key])
            study.image().save(images / f"{study.uid}.png")
    return path
