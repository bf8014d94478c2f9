"""Reading autointerp results back: an explanation's detail and a run's export (runs start in
`workers.autointerp.request`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import (
    AutointerpRunFeature,
    AutointerpVerdict,
    Explanation,
    Feature,
    Sae,
    Score,
)
from workers.autointerp.request import run_summary


def explanation_detail(session: Session, explanation_id: int) -> dict[str, Any] | None:
    """An explanation with its provenance, scores (intervals, counts) and verdicts."""
    row = session.execute(
        select(Explanation, Feature.index, Sae.slug)
        .join(Feature, Feature.id == Explanation.feature_id)
        .join(Sae, Sae.id == Feature.sae_id)
        .where(Explanation.id == explanation_id)
    ).first()
    if row is None:
        return None
    explanation, index, slug = row
    scores = session.scalars(
        select(Score)
        .where(Score.explanation_id == explanation_id)
        .order_by(Score.split.desc(), Score.kind)
    ).all()
    verdicts: dict[int, list[AutointerpVerdict]] = {s.id: [] for s in scores}
    for verdict in session.scalars(
        select(AutointerpVerdict)
        .where(AutointerpVerdict.score_id.in_(list(verdicts)))
        .order_by(AutointerpVerdict.score_id, AutointerpVerdict.position)
    ):
        verdicts[verdict.score_id].append(verdict)
    return {
        "id": explanation.id,
        "sae": slug,
        "feature_index": index,
        "text": explanation.text,
        "source": explanation.source,
        "model_name": explanation.model_name,
        "provenance": explanation.provenance,
        "scores": [_score_detail(score, verdicts[score.id]) for score in scores],
    }


def _score_detail(score: Score, verdicts: list[AutointerpVerdict]) -> dict[str, Any]:
    details = score.details or {}
    names = ("precision", "recall", "f1", "accuracy", "balanced_accuracy", "auc")
    fallback = {name: {"value": getattr(score, name), "low": None, "high": None} for name in names}
    return {
        "id": score.id,
        "kind": score.kind,
        "split": score.split,
        "n": score.n,
        "n_total": details.get("n_total", score.n or 0),
        "n_unparseable": details.get("n_unparseable", 0),
        "n_failed": details.get("n_failed", 0),
        "metrics": details.get("metrics", fallback),
        "scorer": details.get("scorer"),
        "borrowed_from": details.get("borrowed_from"),
        "borrowed_label": details.get("borrowed_label"),
        "verdicts": [
            {
                "position": v.position,
                "document_id": v.document_id,
                "example_id": v.example_id,
                "source": v.source,
                "activating": v.activating,
                "prediction": v.prediction,
                "probability": v.probability,
                "status": v.status,
                "shown": v.shown,
            }
            for v in verdicts
        ],
    }


def run_export(
    session: Session, run_id: uuid.UUID, *, offset: int, limit: int
) -> dict[str, Any] | None:
    """A page of the run's results (features by index) with its settings, for export."""
    summary = run_summary(session, run_id)
    if summary is None:
        return None
    rows = session.execute(
        select(AutointerpRunFeature, Explanation)
        .outerjoin(Explanation, Explanation.id == AutointerpRunFeature.explanation_id)
        .where(AutointerpRunFeature.run_id == run_id)
        .order_by(AutointerpRunFeature.feature_index)
        .offset(offset)
        .limit(limit)
    ).all()
    ids = [explanation.id for _, explanation in rows if explanation is not None]
    scores: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for score in session.scalars(
        select(Score).where(Score.explanation_id.in_(ids)).order_by(Score.kind, Score.split)
    ):
        detail = _score_detail(score, [])
        detail.pop("verdicts")
        scores[score.explanation_id].append(detail)
    return {
        "run": summary,
        "offset": offset,
        "limit": limit,
        "features": [
            {
                "index": feature.feature_index,
                "status": feature.status,
                "error": feature.error,
                "explanation": None
                if explanation is None
                else {
                    "id": explanation.id,
                    "text": explanation.text,
                    "model_name": explanation.model_name,
                    "provenance": explanation.provenance,
                    "scores": scores[explanation.id],
                },
            }
            for feature, explanation in rows
        ],
    }
