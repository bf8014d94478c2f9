"""Data-driven keyword labels for the demo: the words most over-represented where a feature peaks.

No language model is involved. For each feature, the word holding the token of each top example
(and the word before it) is weighted by the example's activation; each word's weighted share is
compared with its share of all words in the corpus, and the three words with the highest
`share * log(lift)` (seen in at least two examples) form the label. The explanation is stored with
source 'heuristic', source_key 'demo:keywords' and provenance `{"method": "top-token keywords"}`,
and its text says it is a keyword list, so the UI never presents it as an LLM or human label.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict

from sqlalchemy import Connection, text

from db.words import word_spans

SOURCE_KEY = "demo:keywords"
PROVENANCE = {"method": "top-token keywords"}
STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "there",
        "this",
        "to",
        "with",
        "was",
        "were",
        "which",
        "xxxx",
    }
)
_WORD = re.compile(r"[a-z][a-z\-]+")


def _words(tokens: list[str]) -> list[str]:
    numbers = word_spans(tokens)
    words = [""] * (numbers[-1] + 1 if numbers else 0)
    for number, token in zip(numbers, tokens, strict=True):
        words[number] += token
    return [word.strip().lower() for word in words]


def _keep(word: str) -> bool:
    return bool(_WORD.fullmatch(word)) and word not in STOPWORDS


def keyword_labels(
    connection: Connection, sae_id: int, corpus_id: int, n_words: int = 3
) -> dict[int, str]:
    """Feature index -> keyword label, from the stored top examples of the SAE on the corpus."""
    corpus_counts: Counter[str] = Counter()
    document_words: dict[int, tuple[list[int], list[str]]] = {}
    for document_id, tokens in connection.execute(
        text("SELECT id, tokens FROM documents WHERE corpus_id = :corpus_id"),
        {"corpus_id": corpus_id},
    ):
        words = _words(tokens)
        corpus_counts.update(word for word in words if _keep(word))
        document_words[document_id] = (word_spans(tokens), words)
    corpus_total = sum(corpus_counts.values()) or 1
    weights: dict[int, Counter[str]] = defaultdict(Counter)
    support: dict[int, Counter[str]] = defaultdict(Counter)
    for index, document_id, position, value in connection.execute(
        text(
            "SELECT f.index, e.document_id, e.max_position, e.max_value FROM examples e "
            "JOIN features f ON f.id = e.feature_id WHERE f.sae_id = :sae_id "
            "AND e.corpus_id = :corpus_id AND e.kind = 'top'"
        ),
        {"sae_id": sae_id, "corpus_id": corpus_id},
    ):
        numbers, words = document_words[document_id]
        number = numbers[position]
        for word in {words[number], words[number - 1] if number else ""}:
            if _keep(word):
                weights[index][word] += value
                support[index][word] += 1
    labels = {}
    for index, counter in weights.items():
        total = sum(counter.values())
        scored = []
        for word, weight in counter.items():
            share = weight / total
            lift = share / (corpus_counts[word] / corpus_total)
            if support[index][word] >= 2 and lift > 1:
                scored.append((share * math.log(lift), word))
        if scored:
            top = [word for _, word in sorted(scored, reverse=True)[:n_words]]
            labels[index] = "keywords: " + ", ".join(top)
    return labels


def write_keyword_labels(connection: Connection, sae_id: int, labels: dict[int, str]) -> None:
    """Store the labels as explanations (replacing earlier keyword labels of the SAE)."""
    connection.execute(
        text(
            "DELETE FROM explanations WHERE source_key = :key AND feature_id IN "
            "(SELECT id FROM features WHERE sae_id = :sae_id)"
        ),
        {"key": SOURCE_KEY, "sae_id": sae_id},
    )
    if not labels:
        return
    connection.execute(
        text(
            "INSERT INTO explanations (feature_id, text, source, source_key, provenance) "
            "SELECT f.id, l.label, 'heuristic', :key, CAST(:provenance AS jsonb) FROM features f "
            "JOIN unnest(CAST(:indices AS integer[]), CAST(:texts AS text[])) AS l(index, label) "
            "ON l.index = f.index WHERE f.sae_id = :sae_id"
        ),
        {
            "key": SOURCE_KEY,
            "provenance": json.dumps(PROVENANCE),
            "sae_id": sae_id,
            "indices": list(labels),
            "texts": list(labels.values()),
        },
    )
