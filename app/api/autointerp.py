"""JSON API for autointerp runs: start one (queued for workers), read its progress."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from app.deps import SessionDep, SettingsDep, rate_limited, require_role
from app.paths import RowId
from app.schemas.autointerp import AutointerpRunOut, ExplanationDetailOut, RunExportOut
from app.services.autointerp import explanation_detail, run_export
from workers.autointerp.request import (
    AutointerpRunRequest,
    RunRejected,
    run_summary,
    start_run,
)

router = APIRouter(prefix="/autointerp", tags=["autointerp"])


def run_out(request: Request, summary: dict) -> AutointerpRunOut:
    run_id = str(summary["id"])
    return AutointerpRunOut(
        **summary,
        url=str(request.app.url_path_for("autointerp_run_page", run_id=run_id)),
        api_url=str(request.app.url_path_for("api_autointerp_run", run_id=run_id)),
    )


@router.post(
    "/runs",
    name="api_start_autointerp_run",
    status_code=202,
    dependencies=[Depends(require_role("researcher")), rate_limited("autointerp")],
    responses={
        401: {"description": "Not signed in (send an API key)."},
        403: {
            "description": "Not a researcher or admin, or the endpoint is off site and this "
            "deployment forbids it."
        },
        404: {"description": "No such SAE."},
        422: {"description": "No feature matches, or an invalid field."},
        429: {"description": "Too many runs started; retry after `Retry-After` seconds."},
    },
)
async def post_run(
    body: AutointerpRunRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> AutointerpRunOut:
    """Start a run (researchers and admins): the features are split into `autointerp` queue
    jobs that any worker takes. Explanations and scores are stored as they finish; LLM answers
    are cached by request hash, so a re-run never pays twice. `remote_warning` is set when
    report text leaves the site."""
    try:
        run_id = await run_in_threadpool(start_run, session, settings, body)
    except RunRejected as error:
        raise HTTPException(error.status_code, error.message) from None
    summary = await run_in_threadpool(run_summary, session, run_id)
    out = run_out(request, summary or {})
    response.headers["Location"] = out.api_url
    return out


@router.get(
    "/runs/{run_id}", name="api_autointerp_run", responses={404: {"description": "No such run."}}
)
def get_run(run_id: uuid.UUID, request: Request, session: SessionDep) -> AutointerpRunOut:
    """The run's settings, status and progress: features done and failed (with reasons), ETA,
    LLM calls (cached, failed) and tokens spent against the budget."""
    summary = run_summary(session, run_id)
    if summary is None:
        raise HTTPException(404, f"There is no autointerp run {run_id}.")
    return run_out(request, summary)


@router.get(
    "/explanations/{explanation_id}",
    name="api_autointerp_explanation",
    responses={404: {"description": "No such explanation."}},
)
def get_explanation(explanation_id: RowId, session: SessionDep) -> ExplanationDetailOut:
    """An explanation's provenance (models, endpoint kind, prompt version, seed, the examples
    it was written from) and each score with its 95% intervals, the unparseable and failed
    counts, and every per-example verdict."""
    detail = explanation_detail(session, explanation_id)
    if detail is None:
        raise HTTPException(404, f"There is no explanation {explanation_id}.")
    return ExplanationDetailOut.model_validate(detail)


@router.get(
    "/runs/{run_id}/export",
    name="api_autointerp_run_export",
    responses={404: {"description": "No such run."}},
)
def export_run(
    run_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> RunExportOut:
    """The run's settings and a page of its results, features by index: each explanation with
    its provenance and scores (metrics with intervals, unparseable and failed counts). The
    verdicts of one explanation are at /autointerp/explanations/{id}."""
    exported = run_export(session, run_id, offset=offset, limit=limit)
    if exported is None:
        raise HTTPException(404, f"There is no autointerp run {run_id}.")
    return RunExportOut.model_validate({**exported, "run": run_out(request, exported["run"])})
