"""Starting an autointerp run: the request, its checks and its queue jobs. The one path that
the API, the pages, `maira-sae autointerp` and the demo share (torch-free: the submit side)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

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
    BATCH_SIZE,
    RunRequestError,
    create_run,
    failed_features,
    run_progress,
    select_features,
)


class AutointerpRunRequest(BaseModel):
    """Start a run: which features of which SAE, and which models explain and score them."""

    model_config = ConfigDict(extra="forbid")

    sae: str = Field(min_length=1, max_length=200, description="Slug of the SAE.")
    features: list[int] | None = Field(
        None, max_length=100_000, description="Feature indices; omitted means every feature."
    )
    limit: int | None = Field(None, ge=1, le=100_000, description="At most this many features.")
    unlabelled: bool = Field(False, description="Only features without a label yet.")
    min_frequency: float | None = Field(
        None, ge=0, le=1, description="Only features active on at least this share of tokens."
    )
    explainer: str = Field(min_length=1, max_length=200)
    scorer: str = Field(min_length=1, max_length=200)
    base_url: str | None = Field(
        None, max_length=500, description="Endpoint; omitted means the deployment's setting."
    )
    preset: Literal["default", "paper"] = "default"
    seed: int = Field(0, ge=0, le=2**31 - 1)
    examples_per_prompt: int = Field(5, ge=1, le=50)
    token_budget: int | None = Field(None, ge=1)
    batch_size: int = Field(BATCH_SIZE, ge=1, le=1000, description="Features per queue job.")


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
