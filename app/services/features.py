"""Feature reads: the full record of one feature (the list lives in `feature_list`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from psycopg.rows import dict_row
from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.schemas.features import FeatureDetail
from app.schemas.saes import SaeRef
from app.services.review.outcomes import VISIBLE
from app.services.saes import no_such_feature, sae_from_rows, sae_query, unknown_sae
from db.driver import Batch, Query, ReadPlan, driver_connection, run_plan
from db.words import whole_words

VALUE_DECIMALS = 5


# ---- one feature ------------------------------------------------------------------------------

# The feature row with previous and next stored indices, neighbours with their labels, and
# explanations with their scores (as JSON). It and `_EXAMPLES` name the feature by SAE slug and
# index, so that both go to the server in one round trip with the SAE's own query.
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
WHERE f.sae_id = (SELECT id FROM saes WHERE slug = :slug) AND f.index = :index
""")

# Each example with its tokens and the document's tokens just outside it (NULL at the edges), so
# that snippets can be cut at word boundaries.
_EXAMPLES = text("""
SELECT e.kind, e.start, e.max_value, e.max_position, e.bin_min, e.bin_max, e.bin_share,
    e.values, d.external_id AS document, d.tokens[e.start + 1 : e."end"] AS tokens,
    d.tokens[e.start] AS before, d.tokens[e."end" + 1] AS after
FROM examples e JOIN documents d ON d.id = e.document_id
WHERE e.feature_id = (
    SELECT f.id FROM features f JOIN saes s ON s.id = f.sae_id
    WHERE s.slug = :slug AND f.index = :index)
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


def _examples(rows: list[tuple[Any, ...]]) -> tuple[list[dict], list[dict]]:
    """The feature's top examples and its interval samples grouped by interval, from the rows
    of `_EXAMPLES`: each an `ExampleOut` cut to whole words, with its sampled token and its
    maximum located."""
    floats = decode_values(b"".join(row[7] for row in rows))
    top: list[dict[str, Any]] = []
    intervals: dict[tuple[float, float], dict[str, Any]] = {}
    end = 0
    for kind, start, sampled, position, low, high, share, packed, document, tokens, *edges in rows:
        offset, end = end, end + len(packed) // 4
        tokens = (tokens or [])[: end - offset]
        # A window with fewer tokens than values ends early: what follows it is unknown.
        after = edges[1] if len(tokens) == end - offset else None
        first, last = whole_words(tokens, edges[0], after, position - start)
        values = floats[offset + first : offset + last]
        largest = max(values) if values else 0.0
        at = values.index(largest) if values else 0
        example = {
            "document": document,
            "start": start + first,
            "tokens": tokens[first:last],
            "values": values,
            "sampled_value": round(sampled, VALUE_DECIMALS),
            "sampled_position": position,
            "sampled_offset": position - start - first,
            "max_value": largest,
            "max_position": start + first + at,
            "max_offset": at,
        }
        if kind == "top":
            top.append(example)
        elif (low, high) in intervals:
            intervals[low, high]["examples"].append(example)
        else:
            intervals[low, high] = {
                "bin_min": low,
                "bin_max": high,
                "share": share,
                "examples": [example],
            }
    return top, list(intervals.values())


@dataclass(frozen=True)
class StoredFeature:
    """What the database holds for one feature: its SAE, its row, its examples' rows."""

    sae: SaeRef
    row: dict[str, Any]
    examples: list[tuple[Any, ...]]


class FeatureNotFound(LookupError):
    """No such SAE or feature, or nothing stored for it; the message says which, in words."""


def no_stored_data(sae: SaeRef, index: int) -> str:
    """What to say when a feature exists in the SAE but nothing was stored for it."""
    return f"Feature {index:,} of SAE {sae.slug!r} has no stored data."


def _feature_queries(slug: str, index: int) -> Batch:
    """The feature's row and its examples' rows."""
    params = {"slug": slug, "index": index}
    return Query(_FEATURE, params, dict_row), Query(_EXAMPLES, params)


def stored_feature(sae: SaeRef, index: int) -> ReadPlan[StoredFeature | None]:
    """Read plan: feature `index` of `sae` as stored, or None when nothing is stored for it."""
    found, examples = yield _feature_queries(sae.slug, index)
    return StoredFeature(sae, found[0], examples) if found else None


def feature_by_slug(slug: str, index: int) -> ReadPlan[StoredFeature]:
    """Read plan: feature `index` of the SAE named `slug`, the API's hottest read, in one round
    trip; `FeatureNotFound` when the SAE, the feature or its data is missing."""
    saes, found, examples = yield (sae_query(slug), *_feature_queries(slug, index))
    sae = sae_from_rows(saes)
    if sae is None:
        raise FeatureNotFound(unknown_sae(slug))
    if index >= sae.d_sae:
        raise FeatureNotFound(no_such_feature(sae, index))
    if not found:
        raise FeatureNotFound(no_stored_data(sae, index))
    return StoredFeature(sae, found[0], examples)


def feature_record(stored: StoredFeature) -> dict[str, Any]:
    """The feature as plain data shaped like `FeatureDetail` (its SAE a `SaeRef`): built from
    our own rows, so it needs no validation to be served as JSON."""
    row = stored.row
    top, intervals = _examples(stored.examples)
    histogram = None
    if row["histogram_edges"] and row["histogram_counts"]:
        edges = [round(edge, 6) for edge in row["histogram_edges"]]
        histogram = {"edges": edges, "counts": row["histogram_counts"]}
    return {
        "sae": stored.sae,
        **{key: row[key] for key in _DETAIL_FIELDS},
        "dead": row["frequency"] == 0 or row["n_active"] == 0,
        "histogram": histogram,
        "explanations": _explanations(row["explanations"], row["label"]),
        "top_examples": top,
        "intervals": intervals,
        "neighbours": row["neighbours"],
        "review": _review(row),
    }


def feature_json(stored: StoredFeature) -> bytes:
    """The feature's JSON record (a `FeatureDetail`).

    orjson writes the 40 KB record in a quarter of pydantic-core's time. It refuses integers
    beyond 64 bits, which an imported label's provenance could hold; pydantic-core writes those.
    """
    record = feature_record(stored)
    try:
        return orjson.dumps(record, default=_dump_model)
    except orjson.JSONEncodeError:
        return to_json(record)


def _dump_model(value: Any) -> Any:
    """What orjson writes for a value it does not know: a pydantic model's JSON fields."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def get_feature(session: Session, *, sae: SaeRef, index: int) -> FeatureDetail | None:
    """The full record of feature `index` of `sae`, or None when it is not stored."""
    stored = run_plan(driver_connection(session), stored_feature(sae, index))
    return None if stored is None else FeatureDetail.model_validate(feature_record(stored))


def _review(row: dict[str, Any]) -> dict[str, Any]:
    """The feature's stored review summary, shaped like `ReviewSummary`
    (app.services.review.outcomes keeps it)."""
    return {
        "state": row["review_state"] or "unreviewed",
        "mean_rating": row["review_mean"],
        "n_ratings": row["review_n"] or 0,
        "n_reviewers": row["review_reviewers"] or 0,
        "agreement": row["review_agreement"],
        "verdicts": row["verdicts"],
    }
