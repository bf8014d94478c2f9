"""Deterministic synthetic chest X-ray reports for the demo: a template grammar in real phrasing."""

from __future__ import annotations

import csv
import random
from pathlib import Path

SIDES = ("left", "right")
ZONES = ("upper", "middle", "lower")
LOBES = (
    "left upper lobe",
    "left lower lobe",
    "right upper lobe",
    "right middle lobe",
    "right lower lobe",
    "lingula",
)
DEGREES = ("mild", "moderate", "severe")
INDICATIONS = (
    "Shortness of breath.",
    "Cough and fever.",
    "Chest pain.",
    "Preoperative evaluation.",
    "Line placement.",
    "Intubated patient, assess tube position.",
    "Follow-up of pneumonia.",
    "Trauma, evaluate for rib fracture.",
    "History of CHF, worsening dyspnea.",
    "Hypoxia.",
    "Fall.",
    "Evaluate for pneumothorax after chest tube removal.",
)
NORMAL_SENTENCES = (
    (
        "The heart size is normal.",
        "Heart size is within normal limits.",
        "The cardiomediastinal silhouette is within normal limits.",
        "Normal heart size.",
    ),
    (
        "The mediastinal and hilar contours are unremarkable.",
        "Mediastinal contours are normal.",
        "The hila are normal in size.",
    ),
    (
        "The lungs are clear.",
        "Lungs are clear bilaterally.",
        "There is no focal consolidation.",
        "No focal airspace disease.",
    ),
    (
        "No pleural effusion or pneumothorax.",
        "There is no pleural effusion.",
        "No pneumothorax is seen.",
        "There is no evidence of pneumothorax or effusion.",
    ),
    (
        "No acute osseous abnormality.",
        "The visualized osseous structures are intact.",
        "Degenerative changes of the thoracic spine.",
        "No displaced rib fracture.",
    ),
)


def _side(rng: random.Random) -> str:
    return rng.choice((*SIDES, *SIDES, "bilateral"))


def _effusion(rng: random.Random) -> tuple[str, str]:
    side = _side(rng)
    size = rng.choice(("small", "small", "moderate", "large", "trace"))
    noun = "pleural effusions" if side == "bilateral" else "pleural effusion"
    sentence = rng.choice(
        (
            f"There is a {size} {side} {noun}.",
            f"{size.capitalize()} {side} {noun} with adjacent atelectasis.",
            f"Blunting of the {side} costophrenic angle consistent with a {size} {noun}.",
        )
    )
    return sentence, f"{size.capitalize()} {side} {noun}."


def _pneumothorax(rng: random.Random) -> tuple[str, str]:
    side = rng.choice(SIDES)
    size = rng.choice(("small", "tiny", "moderate"))
    cm = rng.choice(("0.5", "1", "1.5", "2", "3"))
    sentence = rng.choice(
        (
            f"There is a {size} {side} apical pneumothorax measuring {cm} cm.",
            f"{size.capitalize()} {side}-sided pneumothorax.",
            f"A {side} pneumothorax is present, approximately {cm} cm at the apex.",
        )
    )
    return sentence, f"{size.capitalize()} {side} pneumothorax."


def _consolidation(rng: random.Random) -> tuple[str, str]:
    lobe = rng.choice(LOBES)
    sentence = rng.choice(
        (
            f"There is a focal consolidation in the {lobe}.",
            f"Patchy airspace opacity in the {lobe}, concerning for pneumonia.",
            f"New {lobe} opacity may represent pneumonia or aspiration.",
        )
    )
    return sentence, f"{lobe.capitalize()} consolidation, concerning for pneumonia."


def _atelectasis(rng: random.Random) -> tuple[str, str]:
    side = _side(rng)
    kind = rng.choice(("linear", "plate-like", "subsegmental", "bibasilar"))
    sentence = rng.choice(
        (
            f"{kind.capitalize()} atelectasis at the {side} lung base.",
            f"There is {kind} atelectasis in the {side} {rng.choice(ZONES)} zone.",
            f"Low lung volumes with {kind} atelectasis.",
        )
    )
    return sentence, f"{kind.capitalize()} atelectasis."


def _edema(rng: random.Random) -> tuple[str, str]:
    degree = rng.choice(DEGREES)
    sentence = rng.choice(
        (
            f"There is {degree} pulmonary edema with perihilar haziness.",
            f"Pulmonary vascular congestion and {degree} interstitial edema.",
            f"Kerley B lines and {degree} interstitial edema, consistent with fluid overload.",
        )
    )
    return sentence, f"{degree.capitalize()} pulmonary edema."


def _cardiomegaly(rng: random.Random) -> tuple[str, str]:
    degree = rng.choice(("mildly", "moderately", "markedly"))
    sentence = rng.choice(
        (
            f"The heart is {degree} enlarged.",
            f"The cardiac silhouette is {degree} enlarged.",
            "Stable cardiomegaly.",
        )
    )
    return sentence, "Cardiomegaly."


def _nodule(rng: random.Random) -> tuple[str, str]:
    lobe = rng.choice(LOBES)
    size = rng.choice(("4", "6", "8", "9", "12", "15"))
    sentence = rng.choice(
        (
            f"A {size} mm nodule is seen in the {lobe}.",
            f"Calcified granuloma in the {lobe}.",
            f"There is a {size} mm nodular opacity projecting over the {lobe}.",
        )
    )
    return sentence, f"{size} mm {lobe} nodule; recommend CT for further evaluation."


def _emphysema(rng: random.Random) -> tuple[str, str]:
    sentence = rng.choice(
        (
            "The lungs are hyperinflated with flattening of the diaphragms, consistent with COPD.",
            "Emphysematous changes with upper lobe predominance.",
            "Hyperexpanded lungs compatible with emphysema.",
        )
    )
    return sentence, "Emphysema."


FINDINGS = {
    _effusion: {3},
    _pneumothorax: {3},
    _consolidation: {2},
    _atelectasis: {2},
    _edema: {2},
    _cardiomegaly: {0},
    _nodule: set(),
    _emphysema: {2},
}
"""Each finding generator and the NORMAL_SENTENCES groups it contradicts."""


def _device(rng: random.Random) -> str:
    cm = rng.choice(("2", "3", "4", "5", "6"))
    side = rng.choice(SIDES).capitalize()
    tip = rng.choice(("mid SVC", "cavoatrial junction", "right atrium"))
    return rng.choice(
        (
            f"The endotracheal tube terminates {cm} cm above the carina.",
            "A nasogastric tube courses below the diaphragm with the tip in the stomach.",
            f"{side} internal jugular central venous catheter with tip in the {tip}.",
            f"{side} PICC line terminates in the {rng.choice(('mid', 'distal'))} SVC.",
            "Left-sided pacemaker with leads in the right atrium and right ventricle.",
            "Median sternotomy wires are intact.",
            f"{side} chest tube in place.",
        )
    )


def _comparison_phrase(rng: random.Random, impression: str) -> str:
    return rng.choice(
        (
            f"Compared to the prior study, {impression[0].lower()}{impression[1:]}",
            f"Unchanged from prior: {impression[0].lower()}{impression[1:]}",
            f"Interval improvement. {impression}",
            f"New since the prior examination: {impression[0].lower()}{impression[1:]}",
        )
    )


def synthetic_report(rng: random.Random) -> dict[str, str]:
    """One report as OpenI-style columns (indication, comparison, findings, impression)."""
    n_findings = rng.choice((0, 0, 1, 1, 1, 2, 2, 3))
    makers = rng.sample(list(FINDINGS), n_findings)
    findings = [make(rng) for make in makers]
    contradicted = set().union(*(FINDINGS[make] for make in makers))
    sentences = [
        rng.choice(group)
        for number, group in enumerate(NORMAL_SENTENCES)
        if rng.random() < 0.8 and number not in contradicted
    ]
    if findings and rng.random() < 0.5:
        sentences = sentences[: rng.randint(1, max(1, len(sentences)))]
    sentences += [finding for finding, _ in findings]
    if rng.random() < 0.3:
        sentences.insert(0, _device(rng))
    rng.shuffle(sentences)
    has_prior = rng.random() < 0.4
    impressions = [summary for _, summary in findings] or [
        rng.choice(
            (
                "No acute cardiopulmonary process.",
                "No acute cardiopulmonary abnormality.",
                "Normal chest radiograph.",
            )
        )
    ]
    impression = " ".join(impressions)
    if has_prior:
        impression = _comparison_phrase(rng, impression)
    return {
        "indication": rng.choice(INDICATIONS),
        "comparison": rng.choice(("Prior chest radiograph.", "Chest x-ray from last week."))
        if has_prior
        else "None.",
        "findings": " ".join(sentences) or "The lungs are clear.",
        "impression": impression,
    }


def write_synthetic_reports(path: Path, n_reports: int = 2000, seed: int = 0) -> Path:
    """Write `n_reports` synthetic reports to `path` as an OpenI-style CSV; same seed, same file."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["uid", "indication", "comparison", "findings", "impression"]
        )
        writer.writeheader()
        for number in range(1, n_reports + 1):
            writer.writerow({"uid": f"demo-{number:05d}", **synthetic_report(rng)})
    return path
