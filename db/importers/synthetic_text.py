"""Radiology-style text for synthetic datasets: labels, generated reports, real reports, tokens.

Tokens follow the display convention of BPE vocabularies: whitespace is collapsed to single spaces
and kept at the start of the following token (" effusion"), so joining a document's tokens gives
back its normalised text. The regex splits words (with an optional "'s"-style suffix), numbers
(with an optional decimal part) and every other non-space character on its own.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from db.importers import ImporterError

TOKEN_PATTERN = re.compile(r" ?(?:[A-Za-z]+(?:'[A-Za-z]+)?|\d+(?:\.\d+)?|[^\sA-Za-z\d])")
WHITESPACE = re.compile(r"\s+")

FINDINGS = (
    "pleural effusion",
    "pneumothorax",
    "consolidation",
    "cardiomegaly",
    "atelectasis",
    "pulmonary edema",
    "airspace opacity",
    "pulmonary nodule",
    "calcified granuloma",
    "hyperinflation",
    "emphysema",
    "interstitial opacities",
    "rib fracture",
    "scoliosis",
    "hiatal hernia",
    "pneumonia",
    "vascular congestion",
    "hilar adenopathy",
    "lung mass",
    "degenerative changes of the spine",
    "aortic tortuosity",
    "free air",
    "scarring",
)
DEVICES = (
    "endotracheal tube",
    "nasogastric tube",
    "central venous catheter",
    "PICC line",
    "pacemaker leads",
    "sternotomy wires",
    "chest tube",
    "surgical clips",
    "tracheostomy tube",
    "cardiac valve prosthesis",
)
ANATOMY = (
    "right lower lobe",
    "left lower lobe",
    "right upper lobe",
    "left upper lobe",
    "lingula",
    "right middle lobe",
    "left costophrenic angle",
    "right costophrenic angle",
    "mediastinum",
    "hila",
    "cardiac silhouette",
    "lung apices",
    "right hemidiaphragm",
    "left hemidiaphragm",
    "thoracic spine",
    "aortic arch",
    "retrocardiac region",
    "upper abdomen",
)
SEVERITY = ("small", "mild", "moderate", "large", "minimal", "trace", "stable", "new", "increased")
NORMAL_STATEMENTS = (
    "the cardiac silhouette is within normal limits",
    "the lungs are clear",
    "no acute cardiopulmonary abnormality",
    "the mediastinal contour is normal",
    "the osseous structures are intact",
    "heart size is normal",
)
LABEL_TEMPLATES = (
    "{finding}",
    "{severity} {finding}",
    "{finding} in the {anatomy}",
    "negation of {finding} ('no {finding}')",
    "absence of {finding}",
    "{device} position",
    "tip of the {device} projecting over the {anatomy}",
    "the {anatomy}",
    "mentions of the {anatomy} in normal findings",
    "'{severity}' as a severity qualifier",
    "comparison with prior studies ('unchanged', 'stable')",
    "sentence-final period after {finding}",
    "{finding} or {finding2}",
    "normal statements: '{normal}'",
    "first word of the impression",
    "lateral view references",
)
SENTENCE_TEMPLATES = (
    "There is no {finding}.",
    "No {finding} or {finding2}.",
    "{Severity} {finding} in the {anatomy}.",
    "The {device} tip projects over the {anatomy}.",
    "{Normal}.",
    "There is {severity} {finding} of the {anatomy}, unchanged from the prior study.",
    "Interval placement of a {device}.",
    "The {anatomy} is unremarkable.",
    "Findings are consistent with {finding}.",
    "Compared with the prior radiograph, there is {severity} {finding}.",
    "Stable {finding}.",
)
SENTENCE_POOL_SIZE = 4096


def normalise_text(text: str) -> str:
    """Collapse whitespace runs to single spaces and strip the ends."""
    return WHITESPACE.sub(" ", text).strip()


def tokenize(text: str) -> list[str]:
    """Display tokens of normalised text; `''.join(tokenize(t)) == normalise_text(t)`."""
    return TOKEN_PATTERN.findall(normalise_text(text))


def _fill(template: str, rng: np.random.Generator) -> str:
    finding, finding2 = rng.choice(len(FINDINGS), size=2, replace=False)
    values = {
        "finding": FINDINGS[finding],
        "finding2": FINDINGS[finding2],
        "device": DEVICES[rng.integers(len(DEVICES))],
        "anatomy": ANATOMY[rng.integers(len(ANATOMY))],
        "severity": SEVERITY[rng.integers(len(SEVERITY))],
        "normal": NORMAL_STATEMENTS[rng.integers(len(NORMAL_STATEMENTS))],
    }
    values |= {key.capitalize(): value.capitalize() for key, value in list(values.items())}
    return template.format(**values)


def generate_labels(rng: np.random.Generator, n: int) -> list[str]:
    """`n` radiology-style feature explanations (findings, devices, negations, anatomy)."""
    templates = rng.integers(len(LABEL_TEMPLATES), size=n)
    return [_fill(LABEL_TEMPLATES[template], rng) for template in templates]


def generate_documents(
    rng: np.random.Generator, n: int, min_tokens: int
) -> list[tuple[str, list[str]]]:
    """`n` generated findings sections of at least `min_tokens` tokens, as (id, tokens)."""
    pool = [
        tokenize(_fill(template, rng))
        for template in rng.choice(SENTENCE_TEMPLATES, size=SENTENCE_POOL_SIZE)
    ]
    lengths = np.array([len(sentence) for sentence in pool])
    per_document = int(np.ceil(min_tokens / lengths.mean())) + 4
    choices = rng.integers(len(pool), size=(n, per_document))
    documents = []
    for number, row in enumerate(choices):
        tokens: list[str] = []
        for sentence in row:
            tokens += [" " + pool[sentence][0], *pool[sentence][1:]] if tokens else pool[sentence]
        while len(tokens) < min_tokens:
            tokens += [" " + pool[0][0], *pool[0][1:]]
        documents.append((f"synthetic-{number}", tokens))
    return documents


def read_report_documents(path: Path, limit: int, min_tokens: int) -> list[tuple[str, list[str]]]:
    """Up to `limit` reports of an OpenI-style CSV as (uid, tokens of findings + impression).

    Reports with fewer than `min_tokens` tokens are left out.
    """
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise ImporterError(f"cannot read {path}: {error.strerror}") from None
    documents = []
    with handle:
        reader = csv.DictReader(handle)
        columns = {name.strip().lower(): name for name in reader.fieldnames or []}
        if "findings" not in columns:
            raise ImporterError(f"{path.name}: no 'findings' column; columns seen: {list(columns)}")
        for number, row in enumerate(reader):
            sections = (
                row.get(columns[name]) or ""
                for name in ("findings", "impression")
                if name in columns
            )
            tokens = tokenize(" ".join(sections))
            if len(tokens) >= min_tokens:
                uid = row.get(columns["uid"], "").strip() if "uid" in columns else ""
                documents.append((uid or f"row-{number + 2}", tokens))
            if len(documents) == limit:
                break
    if not documents:
        raise ImporterError(f"{path.name}: no report with at least {min_tokens} tokens")
    return documents
