"""Autointerp pages: a form that starts a run, and the run's page polling its own progress."""

from __future__ import annotations

import uuid
from argparse import ArgumentTypeError

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.api.autointerp import run_out
from app.cli_autointerp import feature_list
from app.deps import SessionDep, SettingsDep, rate_limited, require_role
from app.errors import describe_error
from app.paths import RowId
from app.schemas.autointerp import AutointerpRunOut
from app.services.autointerp import explanation_detail
from app.services.saes import list_saes
from app.services.uploads import RequestRejected, read_form
from app.templating import render, render_block
from workers.autointerp.endpoint import endpoint_from_settings, remote_warning
from workers.autointerp.request import (
    AutointerpRunRequest,
    RunRejected,
    run_summary,
    start_run,
)

router = APIRouter()

PAGE = "autointerp_run.html"
FORM = "autointerp_form.html"
RESEARCHER = Depends(require_role("researcher"))


def _run(request: Request, session: SessionDep, run_id: uuid.UUID) -> AutointerpRunOut:
    summary = run_summary(session, run_id)
    if summary is None:
        raise HTTPException(404, f"There is no autointerp run {run_id}.")
    return run_out(request, summary)


@router.get("/autointerp", name="autointerp_form", dependencies=[RESEARCHER])
def autointerp_form(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """The form (researchers and admins): SAE, features, explainer and scorer models, endpoint
    (warned when off site)."""
    return _form(request, session, settings, error=None, status_code=200)


def _form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    *,
    error: str | None,
    status_code: int,
) -> HTMLResponse:
    endpoint = endpoint_from_settings(settings)
    context = {
        "saes": list_saes(session),
        "base_url": endpoint.base_url,
        "remote_warning": remote_warning(endpoint),
        "allow_remote": settings.llm_allow_remote,
        "error": error,
    }
    return render(request, FORM, context, status_code=status_code)


@router.post(
    "/autointerp", name="autointerp_start", dependencies=[RESEARCHER, rate_limited("autointerp")]
)
async def autointerp_start(
    request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Start a run from the form (or one feature's "explain and score again"), then go to its
    page. The explainer's answers are cached, so re-scoring with another scorer re-uses the
    label at no cost. The form is read once, by the CSRF check and here alike (`read_form`)."""
    try:
        form = await read_form(request, settings)
    except RequestRejected as error:
        raise HTTPException(error.status_code, error.message, headers=error.headers) from None
    fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    await form.close()
    features = fields.get("features") or fields.get("feature") or None
    try:
        body = AutointerpRunRequest.model_validate(
            {
                "sae": fields.get("sae", ""),
                "explainer": fields.get("explainer", ""),
                "scorer": fields.get("scorer", ""),
                "features": None if features is None else feature_list(features),
                "limit": fields.get("limit") or None,
                "unlabelled": fields.get("unlabelled") or False,
                "min_frequency": fields.get("min_frequency") or None,
                "preset": fields.get("preset") or "default",
            }
        )
        run_id = await run_in_threadpool(start_run, session, settings, body)
    except ArgumentTypeError as error:
        return await run_in_threadpool(
            _form, request, session, settings, error=f"Features: {error}", status_code=422
        )
    except ValidationError as error:
        message = "; ".join(describe_error(item) for item in error.errors(include_url=False))
        return await run_in_threadpool(
            _form, request, session, settings, error=message, status_code=422
        )
    except RunRejected as rejected:
        return await run_in_threadpool(
            _form, request, session, settings, error=rejected.message,
            status_code=rejected.status_code,
        )  # fmt: skip
    return RedirectResponse(
        str(request.app.url_path_for("autointerp_run_page", run_id=str(run_id))), status_code=303
    )


@router.get("/autointerp/runs/{run_id}", name="autointerp_run_page")
def autointerp_run_page(request: Request, run_id: uuid.UUID, session: SessionDep) -> HTMLResponse:
    run = _run(request, session, run_id)
    return render(request, PAGE, {"run": run}, json_url=run.api_url)


@router.get("/autointerp/runs/{run_id}/panel", name="autointerp_run_panel")
def autointerp_run_panel(request: Request, run_id: uuid.UUID, session: SessionDep) -> HTMLResponse:
    """The progress panel alone (what the page's htmx polling swaps in)."""
    return render_block(request, PAGE, "panel", {"run": _run(request, session, run_id)})


@router.get("/autointerp/explanations/{explanation_id}", name="autointerp_explanation_page")
def autointerp_explanation_page(
    request: Request, explanation_id: RowId, session: SessionDep
) -> HTMLResponse:
    """A label's scores with intervals and every per-example verdict (what the scorer saw)."""
    detail = explanation_detail(session, explanation_id)
    if detail is None:
        raise HTTPException(404, f"There is no explanation {explanation_id}.")
    json_url = str(
        request.app.url_path_for("api_autointerp_explanation", explanation_id=explanation_id)
    )
    return render(request, "autointerp_explanation.html", {"e": detail}, json_url=json_url)
