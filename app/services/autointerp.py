"""Starting an autointerp run (the one path the API, the pages and `maira-sae autointerp` share)
and reading one back."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.schemas.autointerp import AutointerpRunRequest
from db.models import (
    AutointerpRun,
    AutointerpRunFeature,
    AutointerpVerdict,
    Explanation,
    Feature,
    Sae,
    Score,
)
from db.settings import Settings
from workers.autointerp.config import with_preset
from workers.autointerp.endpoint import (
    Endpoint,
    EndpointRefused,
    check_endpoint,
    endpoint_from_settings,
    remote_warning,
)
from workers.autointerp.runs import (
    RunRequestError,
    create_run,
    failed_features,
    run_progress,
    select_features,
)


class RunRejected(ValueError):
    """The request cannot start a run: the message says why (HTTP 4xx)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def start_run(
    session: Session, settings: Settings, request: AutointerpRunRequest, *, queue: bool = True
) -> uuid.UUID:
    """Create a run and queue its batches (or not, when `queue` is False: the caller runs them);
    RunRejected for an unknown SAE, no features or a refused endpoint."""
    sae = session.scalars(select(Sae).where(Sae.slug == request.sae)).first()
    if sae is None:
        raise RunRejected(404, f"There is no SAE named {request.sae!r}.")
    endpoint = endpoint_from_settings(settings, request.base_url)
    try:
        check_endpoint(endpoint, allow_remote=settings.llm_allow_remote)
    except EndpointRefused as error:
        raise RunRejected(403, str(error)) from None
    config = with_preset(
        request.preset,
        explainer=request.explainer,
        scorer=request.scorer,
        base_url=endpoint.base_url,
        endpoint_kind=endpoint.kind,
        seed=request.seed,
        examples_per_prompt=request.examples_per_prompt,
        token_budget=request.token_budget,
    )
    try:
        indices = select_features(
            session,
            sae,
            indices=request.features,
            limit=request.limit,
            unlabelled=request.unlabelled,
            min_frequency=request.min_frequency,
        )
        return create_run(
            session, sae, config, indices, batch_size=request.batch_size, queue=queue
        ).id
    except RunRequestError as error:
        raise RunRejected(422, str(error)) from None


def run_summary(session: Session, run_id: uuid.UUID) -> dict[str, Any] | None:
    """The run's settings, progress and failures (None if there is no such run)."""
    run = session.get(AutointerpRun, run_id)
    if run is None:
        return None
    sae = session.get_one(Sae, run.sae_id)
    host_url = str(run.config.get("base_url", ""))
    return {
        "id": run.id,
        "sae": sae.slug,
        "status": run.status,
        "config": run.config,
        **run_progress(session, run),
        "remote_warning": remote_warning(Endpoint(base_url=host_url)) if host_url else None,
        "failed_features": failed_features(session, run.id),
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


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
