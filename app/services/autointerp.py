"""Starting an autointerp run from the web (queued for workers) and reading one back."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.schemas.autointerp import AutointerpRunRequest
from db.models import AutointerpRun, Sae
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


def start_run(session: Session, settings: Settings, request: AutointerpRunRequest) -> uuid.UUID:
    """Create and queue a run; RunRejected for an unknown SAE, no features or a refused endpoint."""
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
        )
        return create_run(session, sae, config, indices).id
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
