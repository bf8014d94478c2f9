"""Feature reads: the full record of one feature (the list lives in `feature_list`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from psycopg import Connection
from psycopg.rows import dict_row
from pydantic_core import to_json
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.schemas.features import FeatureDetail
from app.schemas.review import ReviewSummary
from app.schemas.saes import SaeRef
from app.services.review.outcomes import VISIBLE
from app.services.saes import no_such_feature, sae_by_slug, unknown_sae
from db.driver import driver_connection, fetch, read_connection
from db.words import whole_words

VALUE_DECIMALS = 5


# ---- one feature ------------------------------------------------------------------------------

# The feature row with everything that fits in one round trip: previous and next stored indices,
# neighbours with their labels, and explanations with their scores (as JSON).
_FEATURE = text(f"""
SELECT f.id, f.index, f."group", f.label, f.f1, f.frequency, f.n_active, f.n_tokens,
    f.max_activation, f.mean_activation, f.histogram_edges, f.histogram_counts,
    f.review_state, f.review_mean, f.review_n, f.review_reviewers, f.review_agreement,
    (SELECT max(p.index) FROM features p WHERE p.sae_id = f.sae_id AND p.index < f.index)
        AS previous_index,
    (SELECT min(n.index) FROM features n WHERE n.sae_id = f.sae_id AND n.index > f.index)
        AS next_index,
    (SELECT coalesce(json_agg(json_build_object(
                'index', u.index, 'cosine', u.cosine, 'label', g.label, 'f1', g.f1)
            ORDER BY u.position), '[]')
        FROM unnest(f.neighbour_indices, f.neighbour_cosines)
            WITH ORDINALITY AS u(index, cosine, position)
        LEFT JOIN features g ON g.sae_id = f.sae_id AND g.index = u.index) AS neighbours,
    (SELECT coalesce(json_agg(json_build_object(
                'id', e.id, 'text', e.text, 'source', e.source, 'source_key', e.source_key,
                'model_name', e.model_name, 'provenance', e.provenance,
                'scores', (SELECT coalesce(json_agg(json_build_object(
                        'kind', s.kind, 'split', s.split, 'accuracy', s.accuracy,
                        'balanced_accuracy', s.balanced_accuracy, 'precision', s.precision,
                        'recall', s.recall, 'f1', s.f1, 'n', s.n)
                    ORDER BY s.kind, s.split), '[]')
                    FROM scores s WHERE s.explanation_id = e.id))
            ORDER BY e.id), '[]')
        FROM explanations e WHERE e.feature_id = f.id) AS explanations,
    (SELECT coalesce(json_agg(json_build_object(
                'campaign_id', a.campaign_id, 'verdict', a.verdict,
                'corrected_label', a.corrected_label, 'note', a.note, 'decided_at', a.updated_at)
            ORDER BY a.updated_at DESC), '[]')
        FROM adjudications a
        JOIN campaigns c ON c.id = a.campaign_id AND c.sae_id = f.sae_id
            AND {VISIBLE}
        WHERE a.feature_index = f.index) AS verdicts
FROM features f
WHERE f.sae_id = :sae_id AND f.index = :index
""")

# Each example with its tokens and the document's tokens just outside it (NULL at the edges), so
# that snippets can be cut at word boundaries.
_EXAMPLES = text("""
SELECT e.kind, e.start, e.max_value, e.max_position, e.bin_min, e.bin_max, e.bin_share,
    e.values, d.external_id AS document, d.tokens[e.start + 1 : e."end"] AS tokens,
    d.tokens[e.start] AS before, d.tokens[e."end" + 1] AS after
FROM examples e JOIN documents d ON d.id = e.document_id
WHERE e.feature_id = :feature_id
ORDER BY e.kind, e.bin_min DESC, e.rank
""")

_SCORE_FIELDS = ("kind", "accuracy", "balanced_accuracy", "precision", "recall", "f1", "n")
_DETAIL_FIELDS = (
    "index",
    "group",
    "label",
    "f1",
    "frequency",
    "n_active",
    "n_tokens",
    "max_activation",
    "mean_activation",
    "previous_index",
    "next_index",
)


def decode_values(packed: bytes) -> list[float]:
    """Little-endian float32 bytes as Python floats, rounded for compact JSON."""
    return np.frombuffer(packed, dtype="<f4").astype(np.float64).round(VALUE_DECIMALS).tolist()


def _explanations(rows: list[dict[str, Any]], label: str | None) -> list[dict[str, Any]]:
    """Explanations (JSON from _FEATURE) with scores split by train and held-out; primary first.

    The primary explanation is the one whose text the feature's label mirrors.
    """
    explanations = []
    primary_found = False
    for row in rows:
        is_primary = not primary_found and row["text"] == label
        primary_found = primary_found or is_primary
        by_split: dict[str, list[dict[str, Any]]] = {"train": [], "heldout": []}
        for score in row.pop("scores"):
            by_split[score["split"]].append({key: score[key] for key in _SCORE_FIELDS})
        explanations.append({**row, "is_primary": is_primary, **by_split})

    def best_heldout_f1(explanation: dict[str, Any]) -> float:
        scores = (score["f1"] for score in explanation["heldout"] if score["f1"] is not None)
        return max(scores, default=-1.0)

    return sorted(explanations, key=lambda e: (not e["is_primary"], -best_heldout_f1(e)))


def snippet(
    document: str,
    start: int,
    tokens: list[str],
    values: list[float],
    sampled_position: int,
    sampled_value: float,
    before: str | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    """An example window (an `ExampleOut`) cut to whole words, with its sampled token and its
    maximum located."""
    sampled_offset = sampled_position - start
    first, last = whole_words(tokens, before, after, sampled_offset)
    tokens, values = tokens[first:last], values[first:last]
    start += first
    top = max(values, default=0.0)
    max_offset = values.index(top) if values else 0
    return {
        "document": document,
        "start": start,
        "tokens": tokens,
        "values": values,
        "sampled_value": round(sampled_value, VALUE_DECIMALS),
        "sampled_position": sampled_position,
        "sampled_offset": sampled_offset - first,
        "max_value": top,
        "max_position": start + max_offset,
        "max_offset": max_offset,
    }


def _examples(connection: Connection, feature_id: int) -> tuple[list[dict], list[dict]]:
    """The feature's top examples and its interval samples grouped by interval (as records)."""
    rows = fetch(connection, _EXAMPLES, {"feature_id": feature_id})
    all_values = decode_values(b"".join(row[7] for row in rows))
    top: list[dict[str, Any]] = []
    intervals: dict[tuple[float, float], dict[str, Any]] = {}
    offset = 0
    for (
        kind,
        start,
        sampled,
        position,
        bin_min,
        bin_max,
        share,
        packed,
        document,
        tokens,
        *edges,
    ) in rows:
        n_values = len(packed) // 4
        values = all_values[offset : offset + n_values]
        offset += n_values
        tokens = tokens or []
        length = min(len(tokens), n_values)
        before, after = edges
        example = snippet(
            document,
            start,
            tokens[:length],
            values[:length],
            position,
            sampled,
            before,
            after if length == n_values else None,
        )
        if kind == "top":
            top.append(example)
            continue
        key = (bin_min, bin_max)
        if key not in intervals:
            intervals[key] = {
                "bin_min": bin_min,
                "bin_max": bin_max,
                "share": share,
                "examples": [],
            }
        intervals[key]["examples"].append(example)
    return top, list(intervals.values())


def _feature_record(connection: Connection, sae: SaeRef, index: int) -> dict[str, Any] | None:
    """Feature `index` of `sae` as plain data shaped like `FeatureDetail`, or None when it is not
    stored. Built from our own rows, so it needs no validation to be served as JSON."""
    found = fetch(connection, _FEATURE, {"sae_id": sae.id, "index": index}, dict_row)
    if not found:
        return None
    row = found[0]
    top, intervals = _examples(connection, row["id"])
    histogram = None
    if row["histogram_edges"] and row["histogram_counts"]:
        edges = [round(edge, 6) for edge in row["histogram_edges"]]
        histogram = {"edges": edges, "counts": row["histogram_counts"]}
    return {
        "sae": sae,
        **{key: row[key] for key in _DETAIL_FIELDS},
        "dead": row["frequency"] == 0 or row["n_active"] == 0,
        "histogram": histogram,
        "explanations": _explanations(row["explanations"], row["label"]),
        "top_examples": top,
        "intervals": intervals,
        "neighbours": row["neighbours"],
        "review": _review(row),
    }


def get_feature(session: Session, *, sae: SaeRef, index: int) -> FeatureDetail | None:
    """The full record of feature `index` of `sae`, or None when it is not stored."""
    record = _feature_record(driver_connection(session), sae, index)
    return None if record is None else FeatureDetail.model_validate(record)


class FeatureNotFound(LookupError):
    """No such SAE or feature, or nothing stored for it; the message says which, in words."""


def no_stored_data(sae: SaeRef, index: int) -> str:
    """What to say when a feature exists in the SAE but nothing was stored for it."""
    return f"Feature {index:,} of SAE {sae.slug!r} has no stored data."


def feature_record_json(session: Session, *, slug: str, index: int) -> bytes:
    """Feature `index` of the SAE named `slug` as its JSON record (a `FeatureDetail`).

    The API's hottest read: its three queries run on a pooled connection outside a transaction
    (`db.driver.read_connection`), and the record, plain data from our own rows, is serialised
    without building a model of it first.
    """
    with read_connection(session) as connection:
        sae = sae_by_slug(connection, slug)
        if sae is None:
            raise FeatureNotFound(unknown_sae(slug))
        if index >= sae.d_sae:
            raise FeatureNotFound(no_such_feature(sae, index))
        record = _feature_record(connection, sae, index)
    if record is None:
        raise FeatureNotFound(no_stored_data(sae, index))
    return to_json(record)


def _review(row: dict[str, Any]) -> ReviewSummary:
    """The feature's stored review summary (app.services.review.outcomes keeps it)."""
    return ReviewSummary(
        state=row["review_state"] or "unreviewed",
        mean_rating=row["review_mean"],
        n_ratings=row["review_n"] or 0,
        n_reviewers=row["review_reviewers"] or 0,
        agreement=row["review_agreement"],
        verdicts=row["verdicts"],
    )
