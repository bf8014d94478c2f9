"""Agreement of the findings labeler with the MeSH problem labels of the OpenI report collection."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from workers.findings.labeler import Label, label_report
from workers.findings.phrases import (
    ATELECTASIS,
    CARDIOMEGALY,
    CONSOLIDATION,
    EDEMA,
    ENLARGED_CARDIOMEDIASTINUM,
    FRACTURE,
    LUNG_LESION,
    LUNG_OPACITY,
    NO_FINDING,
    OBSERVATIONS,
    PLEURAL_EFFUSION,
    PLEURAL_OTHER,
    PNEUMONIA,
    PNEUMOTHORAX,
    SUPPORT_DEVICES,
)

# MeSH heading -> CheXpert observations, optionally only when the term's qualifiers (the parts
# after "/") include one of the listed words. A heading appears once: pleural scarring
# ("Cicatrix/pleura") is left unmapped. A report is positive for an observation when any of
# its MeSH terms maps to it. Granulomas (calcified, by CheXpert's rules not a lung lesion),
# costophrenic blunting, hyperinflation and the like have no CheXpert observation and are unmapped;
# they only count against "No Finding".
MESH_TO_CHEXPERT: dict[str, tuple[tuple[str, ...], frozenset[str] | None]] = {
    "normal": ((NO_FINDING,), None),
    "Cardiomegaly": ((CARDIOMEGALY,), None),
    "Cardiac Shadow": ((CARDIOMEGALY,), frozenset({"enlarged"})),
    "Mediastinum": ((ENLARGED_CARDIOMEDIASTINUM,), frozenset({"enlarged", "prominent", "widened"})),
    "Nodule": ((LUNG_LESION,), None),
    "Mass": ((LUNG_LESION,), frozenset({"lung", "thorax", "hilum"})),
    "Opacity": ((LUNG_OPACITY,), None),
    "Infiltrate": ((LUNG_OPACITY,), None),
    "Airspace Disease": ((LUNG_OPACITY,), None),
    # CheXpert counts lung scarring and interstitial markings as lung opacity.
    "Cicatrix": ((LUNG_OPACITY,), frozenset({"lung"})),
    "Markings": ((LUNG_OPACITY,), frozenset({"interstitial"})),
    "Lung Diseases, Interstitial": ((LUNG_OPACITY,), None),
    "Pulmonary Edema": ((EDEMA,), None),
    "Edema": ((EDEMA,), None),
    "Pulmonary Congestion": ((EDEMA,), None),
    "Heart Failure": ((EDEMA,), None),
    "Consolidation": ((CONSOLIDATION,), None),
    "Pneumonia": ((PNEUMONIA,), None),
    "Pulmonary Atelectasis": ((ATELECTASIS,), None),
    "Atelectasis": ((ATELECTASIS,), None),
    "Pneumothorax": ((PNEUMOTHORAX,), None),
    "Hydropneumothorax": ((PNEUMOTHORAX, PLEURAL_EFFUSION), None),
    "Hemopneumothorax": ((PNEUMOTHORAX, PLEURAL_EFFUSION), None),
    "Pleural Effusion": ((PLEURAL_EFFUSION,), None),
    "Thickening": ((PLEURAL_OTHER,), frozenset({"pleura"})),
    "Fractures, Bone": ((FRACTURE,), None),
    "Catheters, Indwelling": ((SUPPORT_DEVICES,), None),
    "Tube, Inserted": ((SUPPORT_DEVICES,), None),
    "Implanted Medical Device": ((SUPPORT_DEVICES,), None),
    "Medical Device": ((SUPPORT_DEVICES,), None),
    "Surgical Instruments": ((SUPPORT_DEVICES,), None),
    "Stents": ((SUPPORT_DEVICES,), None),
}

# "No Indexing" reports carry no labels at all; they are left out of the comparison.
UNINDEXED = "No Indexing"


def mesh_observations(mesh: str) -> set[str]:
    """The CheXpert observations a report's ';'-separated MeSH terms map to."""
    observations: set[str] = set()
    for term in mesh.split(";"):
        heading, *qualifiers = (part.strip() for part in term.split("/"))
        mapped = MESH_TO_CHEXPERT.get(heading)
        if mapped is None:
            continue
        targets, required = mapped
        if required is None or required & {qualifier.lower() for qualifier in qualifiers}:
            observations.update(targets)
    return observations


@dataclass(frozen=True)
class Agreement:
    """Binary agreement on one observation over the compared reports."""

    observation: str
    reference_positive: int
    labeler_positive: int
    true_positive: int
    total: int

    @property
    def precision(self) -> float:
        return self.true_positive / self.labeler_positive if self.labeler_positive else 0.0

    @property
    def recall(self) -> float:
        return self.true_positive / self.reference_positive if self.reference_positive else 0.0

    @property
    def f1(self) -> float:
        both = self.precision + self.recall
        return 2 * self.precision * self.recall / both if both else 0.0

    @property
    def kappa(self) -> float:
        """Cohen's kappa of the two binary labelings."""
        n = self.total
        false_positive = self.labeler_positive - self.true_positive
        false_negative = self.reference_positive - self.true_positive
        true_negative = n - self.true_positive - false_positive - false_negative
        observed = (self.true_positive + true_negative) / n
        expected = (
            self.reference_positive * self.labeler_positive
            + (n - self.reference_positive) * (n - self.labeler_positive)
        ) / (n * n)
        return (observed - expected) / (1 - expected) if expected < 1 else 1.0


@dataclass(frozen=True)
class LabeledReport:
    """One report's reference observations and the labeler's labels."""

    uid: str
    text: str
    reference: frozenset[str]
    labels: dict[str, Label]


def report_text(row: dict[str, str]) -> str:
    """The text the labeler reads: findings, then impression."""
    return "\n".join(part.strip() for part in (row["findings"], row["impression"]) if part.strip())


def label_corpus(csv_path: Path, limit: int | None = None) -> list[LabeledReport]:
    """Label every indexed report with text in the OpenI CSV."""
    labeled: list[LabeledReport] = []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text = report_text(row)
            if not text or row["MeSH"].strip() == UNINDEXED:
                continue
            reference = frozenset(mesh_observations(row["MeSH"]))
            labeled.append(LabeledReport(row["uid"], text, reference, label_report(text)))
            if limit is not None and len(labeled) >= limit:
                break
    return labeled


def counts_as_positive(uncertain_positive: bool) -> Callable[[Label], bool]:
    """Binarisation of labels: positive, and uncertain too when `uncertain_positive`."""
    accepted = {Label.POSITIVE, Label.UNCERTAIN} if uncertain_positive else {Label.POSITIVE}
    return accepted.__contains__


def agreement(reports: Iterable[LabeledReport], uncertain_positive: bool = True) -> list[Agreement]:
    """Per-observation agreement, for the observations some MeSH term maps to."""
    reports = list(reports)
    positive = counts_as_positive(uncertain_positive)
    mapped = {target for targets, _ in MESH_TO_CHEXPERT.values() for target in targets}
    rows: list[Agreement] = []
    for observation in OBSERVATIONS:
        if observation not in mapped:
            continue
        reference = [observation in report.reference for report in reports]
        predicted = [positive(report.labels[observation]) for report in reports]
        rows.append(
            Agreement(
                observation=observation,
                reference_positive=sum(reference),
                labeler_positive=sum(predicted),
                true_positive=sum(r and p for r, p in zip(reference, predicted, strict=True)),
                total=len(reports),
            )
        )
    return rows


def macro_f1(rows: Iterable[Agreement]) -> float:
    """Mean F1 over the observations."""
    rows = list(rows)
    return sum(row.f1 for row in rows) / len(rows)


def micro(rows: Iterable[Agreement]) -> Agreement:
    """All observations pooled into one binary decision per report and observation."""
    rows = list(rows)
    return Agreement(
        observation="Overall (micro)",
        reference_positive=sum(row.reference_positive for row in rows),
        labeler_positive=sum(row.labeler_positive for row in rows),
        true_positive=sum(row.true_positive for row in rows),
        total=sum(row.total for row in rows),
    )
