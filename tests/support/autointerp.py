"""The stand-in LLM served over real HTTP in a thread, and a keyword data set to run autointerp on:
each feature fires on one radiology word, so its right label is known."""

from __future__ import annotations

import random

import httpx
from sqlalchemy.orm import Session

from tests.support.factories import (
    make_corpus,
    make_document,
    make_example,
    make_feature,
    make_sae,
    make_window_sample,
)
from workers.autointerp.standin import serve_in_thread

KEYWORDS = [
    "effusion", "pneumothorax", "cardiomegaly", "edema", "atelectasis", "consolidation",
    "fracture", "nodule", "opacity", "pacemaker", "scoliosis", "granuloma",
]  # fmt: skip
FILLER = [
    "the",
    "lungs",
    "are",
    "clear",
    "with",
    "no",
    "acute",
    "process",
    "seen",
    "on",
    "this",
    "view",
    "today",
]


standin_server = serve_in_thread


def standin_stats(base_url: str) -> dict:
    return httpx.get(base_url.removesuffix("/v1") + "/stats").json()


def make_keyword_sae(
    session: Session, slug: str = "kw", *, n_documents: int = 120, seed: int = 0
) -> list[str]:
    """An SAE whose feature i fires (top and interval examples) on KEYWORDS[i]; each document
    holds two keywords among filler words and is one window of the window sample. Returns the
    keywords."""
    rng = random.Random(seed)
    sae = make_sae(session, slug, d_sae=len(KEYWORDS))
    features = [
        make_feature(session, sae, i, neighbours=[((i + 1) % len(KEYWORDS), 0.5)])
        for i in range(len(KEYWORDS))
    ]
    corpus = make_corpus(session, f"{slug}-reports")
    ranks = [0] * len(KEYWORDS)
    for number in range(n_documents):
        words = rng.sample(FILLER, 8)
        chosen = rng.sample(range(len(KEYWORDS)), 2)
        for index in chosen:
            words.insert(rng.randrange(len(words) + 1), KEYWORDS[index])
        tokens = [("" if i == 0 else " ") + w for i, w in enumerate(words)]
        document = make_document(session, corpus, f"r{number}", tokens)
        strengths = {index: rng.uniform(1.0, 5.0) for index in chosen}
        session.flush()
        make_window_sample(session, sae, document, number, strengths)
        for index, strength in strengths.items():
            values = [strength if w == KEYWORDS[index] else 0.0 for w in words]
            kind = "top" if strength > 2.0 else "interval"
            make_example(
                session,
                features[index],
                document,
                start=0,
                values=values,
                kind=kind,
                rank=ranks[index],
                interval=(1.0, 2.0, 0.2) if kind == "interval" else None,
            )
            ranks[index] += 1
    session.flush()
    return KEYWORDS
