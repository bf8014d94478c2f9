"""Test data factories: SAEs, features, documents, examples, explanations and scores via the ORM."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.engine import make_engine
from db.labels import refresh_primary_labels
from db.models import (
    Corpus,
    Document,
    Example,
    Explanation,
    Feature,
    LanguageModel,
    Sae,
    Score,
    WindowSample,
)

SCRIPT_TOKEN = "<script>alert(1)</script>"
MANY_EXAMPLES_FEATURE, MANY_EXAMPLES = 2, 25


def make_model(session: Session, slug: str = "tiny-maira2") -> LanguageModel:
    """The language model row with this slug, created once."""
    model = session.scalars(select(LanguageModel).where(LanguageModel.slug == slug)).first()
    if model is None:
        model = LanguageModel(slug=slug, name="Tiny MAIRA-2", n_layers=2, d_model=32)
        session.add(model)
        session.flush()
    return model


def make_sae(
    session: Session, slug: str = "test-sae", *, d_sae: int = 40, description: str = ""
) -> Sae:
    """An SAE with `d_sae` features (feature rows are made separately)."""
    sae = Sae(
        slug=slug,
        model=make_model(session),
        description=description,
        hookpoint="language_model.model.layers.15",
        layer=15,
        d_in=32,
        d_sae=d_sae,
        k=8,
        threshold=0.25,
        group_sizes=[d_sae // 2, d_sae - d_sae // 2],
        input_scale=22.34,
    )
    session.add(sae)
    session.flush()
    return sae


def make_feature(
    session: Session,
    sae: Sae,
    index: int,
    *,
    frequency: float | None = 0.01,
    max_activation: float | None = 4.0,
    neighbours: Sequence[tuple[int, float]] = (),
    histogram: tuple[list[float], list[int]] | None = None,
    label: str | None = None,
    f1: float | None = None,
) -> Feature:
    """One feature row; `label`/`f1` are normally set by refresh_primary_labels instead."""
    n_tokens = 10_000
    feature = Feature(
        sae_id=sae.id,
        index=index,
        group=0 if index < sae.d_sae // 2 else 1,
        frequency=frequency,
        n_active=None if frequency is None else round(frequency * n_tokens),
        n_tokens=n_tokens,
        max_activation=max_activation,
        mean_activation=None if max_activation is None else max_activation / 3,
        histogram_edges=histogram[0] if histogram else None,
        histogram_counts=histogram[1] if histogram else None,
        neighbour_indices=[i for i, _ in neighbours] or None,
        neighbour_cosines=[c for _, c in neighbours] or None,
        label=label,
        f1=f1,
    )
    session.add(feature)
    session.flush()
    return feature


def make_corpus(session: Session, slug: str = "test-reports") -> Corpus:
    corpus = Corpus(slug=slug, name="Test reports", source="tests")
    session.add(corpus)
    session.flush()
    return corpus


def make_document(
    session: Session, corpus: Corpus, external_id: str, tokens: list[str]
) -> Document:
    document = Document(corpus_id=corpus.id, external_id=external_id, tokens=tokens)
    session.add(document)
    session.flush()
    return document


def make_example(
    session: Session,
    feature: Feature,
    document: Document,
    *,
    start: int,
    values: Sequence[float],
    kind: str = "top",
    rank: int = 0,
    interval: tuple[float, float, float] | None = None,
    sampled: int | None = None,
) -> Example:
    """An example over document tokens [start, start + len(values)) with packed float32 values,
    chosen for the token at offset `sampled` (default: its largest value)."""
    array = np.asarray(values, dtype="<f4")
    peak = int(array.argmax()) if sampled is None else sampled
    example = Example(
        feature_id=feature.id,
        corpus_id=document.corpus_id,
        document_id=document.id,
        kind=kind,
        rank=rank,
        start=start,
        end=start + len(array),
        values=array.tobytes(),
        max_value=float(array[peak]),
        max_position=start + peak,
        bin_min=interval[0] if interval else None,
        bin_max=interval[1] if interval else None,
        bin_share=interval[2] if interval else None,
    )
    session.add(example)
    return example


def make_window_sample(
    session: Session,
    sae: Sae,
    document: Document,
    position: int,
    active: dict[int, float],
) -> WindowSample:
    """A sampled window over the whole document, with the features `active` in it (index: max)."""
    indices = sorted(active)
    window = WindowSample(
        sae_id=sae.id,
        corpus_id=document.corpus_id,
        document_id=document.id,
        position=position,
        start=0,
        end=len(document.tokens),
        seed=0,
        feature_indices=indices,
        feature_maxima=[active[i] for i in indices],
    )
    session.add(window)
    return window


def make_explanation(
    session: Session,
    feature: Feature,
    text: str,
    *,
    heldout_f1: float | None = None,
    train_f1: float | None = None,
    source: str = "csv",
    source_key: str | None = None,
    model_name: str | None = "autointerp-llm",
) -> Explanation:
    """An explanation with detection scores on the splits whose F1 is given."""
    explanation = Explanation(
        feature_id=feature.id,
        text=text,
        source=source,
        source_key=source_key or f"{source}:{text}",
        model_name=model_name,
    )
    session.add(explanation)
    session.flush()
    for split, f1 in (("heldout", heldout_f1), ("train", train_f1)):
        if f1 is not None:
            session.add(
                Score(
                    explanation_id=explanation.id,
                    kind="detection",
                    split=split,
                    f1=f1,
                    precision=min(1.0, f1 + 0.05),
                    recall=max(0.0, f1 - 0.05),
                    accuracy=f1,
                    balanced_accuracy=f1,
                    n=100 if split == "heldout" else 40,
                )
            )
    session.flush()
    return explanation


# ---- a small, realistic data set -----------------------------------------------------------

_REPORT_TEXT = (
    "Findings : There is a small left pleural effusion . The heart size is normal . "
    "No pneumothorax . Mild cardiomegaly with pulmonary edema . Impression : small effusion ."
)
REPORT = [("" if i == 0 else " ") + word for i, word in enumerate(_REPORT_TEXT.split(" "))]
# A report in word pieces, as SentencePiece cuts it: "evidence", "displaced" and "volumes" span
# several tokens.
PIECES = [
    "Findings", ":", " evide", "nce", " of", " dis", "p", "la", "c", "ed", " rib", " fracture",
    ".", " Low", " lung", " volum", "es", ".",
]  # fmt: skip
PIECE_VALUES = [0.0, 0.0, 0.0, 0.5, 0.0, 0.2, 0.9, 0.1, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.7]

LABELS = [
    "pleural effusion",
    "heart size and cardiomegaly",
    "absence of pneumothorax",
    "pulmonary edema",
    "sentence-final period",
    "impression section header",
    "left-sided findings",
    "normal heart size",
]
HELDOUT_F1 = [0.82, 0.9, 0.5, 0.5, 0.3, 0.76, 0.6, 0.4]


@dataclass(frozen=True)
class SeededData:
    """What `seed_explorer_data` made, for assertions."""

    sae_slug: str
    d_sae: int
    labelled: dict[int, str]
    f1: dict[int, float]
    dead: list[int]
    script_feature: int
    rich_feature: int
    pieces_feature: int


def seed_explorer_data(session: Session, slug: str = "test-sae", d_sae: int = 40) -> SeededData:
    """An SAE whose features cover labels, F1 range, dead features, examples and neighbours.

    Feature i < len(LABELS) gets LABELS[i] with held-out F1 HELDOUT_F1[i] (train F1 higher);
    features 30 and 31 are dead; feature 0 (`rich_feature`) has top and interval examples,
    a second explanation, a histogram and neighbours; feature 1 has a token that is HTML;
    feature MANY_EXAMPLES_FEATURE has MANY_EXAMPLES top examples; feature 3 (`pieces_feature`)
    has two windows of the word-piece report PIECES that start and end inside words, one of
    them an interval sample whose sampled token (0.2) is not its maximum (2.0).
    """
    sae = make_sae(session, slug, d_sae=d_sae, description="Synthetic SAE for tests")
    corpus = make_corpus(session, f"{slug}-reports")
    document = make_document(session, corpus, "report-1", REPORT)
    script_document = make_document(
        session, corpus, "report-2", ["The", " heart", SCRIPT_TOKEN, " is", " normal"]
    )
    dead = [30, 31]
    features = {}
    for index in range(d_sae):
        frequency = 0.0 if index in dead else 10 ** (-4 + 3 * index / d_sae)
        neighbours = [((index + k) % d_sae, round(0.9 - 0.1 * k, 2)) for k in (1, 2, 3)]
        histogram = ([0.0, 1.0, 2.0, 3.0, 4.0], [40, 20, 8, 2]) if index == 0 else None
        features[index] = make_feature(
            session,
            sae,
            index,
            frequency=frequency,
            max_activation=0.0 if index in dead else 4.0 + index / 10,
            neighbours=neighbours,
            histogram=histogram,
        )
    labelled, f1s = {}, {}
    for index, label in enumerate(LABELS):
        f1 = HELDOUT_F1[index]
        make_explanation(
            session, features[index], label, heldout_f1=f1, train_f1=min(1.0, f1 + 0.1)
        )
        labelled[index], f1s[index] = label, f1
    make_explanation(
        session,
        features[0],
        "fluid in the pleural space",
        heldout_f1=0.1,
        train_f1=0.5,
        source="llm",
        source_key="llm:second",
    )
    values = [0.0] * len(REPORT)
    for position, value in ((6, 4.5), (7, 1.5), (27, 3.0)):
        values[position] = value
    make_example(session, features[0], document, start=0, values=values)
    make_example(session, features[0], document, start=20, values=values[20:], rank=1)
    for rank, peak in enumerate((1.2, 0.8)):
        window = [0.0, peak, 0.1]
        make_example(
            session,
            features[0],
            document,
            start=5,
            values=window,
            kind="interval",
            rank=rank,
            interval=(0.5, 1.5, 0.25),
        )
    make_example(session, features[1], script_document, start=0, values=[0, 0.5, 2.0, 0, 0])
    pieces_document = make_document(session, corpus, "report-3", PIECES)
    make_example(session, features[3], pieces_document, start=3, values=PIECE_VALUES[3:16])
    make_example(
        session,
        features[3],
        pieces_document,
        start=4,
        values=PIECE_VALUES[4:12],
        kind="interval",
        interval=(0.1, 0.5, 0.3),
        sampled=1,
    )
    for rank in range(MANY_EXAMPLES):
        window = [0.0, 3.0 - rank / 100, 0.0]
        make_example(session, features[MANY_EXAMPLES_FEATURE], document, start=rank, values=window)
    session.flush()
    refresh_primary_labels(session, sae.id)
    session.flush()
    return SeededData(
        sae_slug=slug,
        d_sae=d_sae,
        labelled=labelled,
        f1=f1s,
        dead=dead,
        script_feature=1,
        rich_feature=0,
        pieces_feature=3,
    )


def log_frequency_f1_points(seeded: SeededData) -> list[tuple[float, float]]:
    """(log10 frequency, F1) of the seeded live labelled features, for checking Spearman's rho."""
    return [
        (math.log10(10 ** (-4 + 3 * index / seeded.d_sae)), f1)
        for index, f1 in seeded.f1.items()
        if index not in seeded.dead
    ]


def committed_explorer_data(url: str) -> tuple[str, SeededData]:
    """`seed_explorer_data` committed into the database at `url` (for tests of a real server or
    app start-up, which cannot see a test's rolled-back session)."""
    engine = make_engine(url)
    with Session(engine) as session:
        seeded = seed_explorer_data(session)
        session.commit()
    engine.dispose()
    return url, seeded
