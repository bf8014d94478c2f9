"""Shared by the encode and steer pages: the form's context, its errors, and the result page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.errors import describe_error
from app.pages.jobs import job_context
from app.services.jobs import find_job
from app.services.live import IMAGE_ROLES, TEXT_FIELDS, Submitted
from app.services.live_forms import request_from_form, store_form_images
from app.services.saes import list_saes
from app.services.uploads import RequestRejected, get_upload, read_form
from app.templating import path_for, render
from db.jobs import get_job
from db.settings import Settings
from workers.kinds.registry import get_kind
from workers.kinds.steer import SteerParams
from workers.kinds.study import StudyJobParams

JOB_PAGE = "jobs/page.html"


async def submit_form(
    request: Request,
    session: Session,
    settings: Settings,
    *,
    model: type[BaseModel],
    submit: Callable[[Session, Settings, Any], Submitted],
    render_form: Callable[..., HTMLResponse],
    result_route: str,
) -> Response:
    """Store the form's images, parse it into `model`, queue it with `submit` and go to the job's
    page; a rejected submission comes back as the form exactly as it was sent, its images kept
    as stored uploads, with its errors."""
    form = None
    stored: dict[str, str] = {}
    try:
        form = await read_form(request, settings)
        await store_form_images(form, session, settings, stored)
        parsed = await request_from_form(form, session, settings, model, stored)
        submitted = await run_in_threadpool(submit, session, settings, parsed)
    except (RequestRejected, ValidationError) as error:
        status_code, messages = form_errors(error)
        values = {**form_values(form), **stored}
        return await run_in_threadpool(render_form, request, session, values, messages, status_code)
    finally:
        if form is not None:
            await form.close()
    target = path_for(request, result_route, job_id=str(submitted.job.id))
    return RedirectResponse(target, status_code=303)


def form_errors(error: RequestRejected | ValidationError) -> tuple[int, list[str]]:
    """The status and the messages a form shows for a rejected submission."""
    if isinstance(error, RequestRejected):
        return error.status_code, [error.message]
    return 422, [describe_error(item) for item in error.errors(include_url=False)]


def form_values(form: FormData | None) -> dict[str, Any]:
    """What the user typed, to refill the form after an error (files cannot be refilled);
    repeated fields (feature rows) keep all their values."""
    if form is None:
        return {}
    values: dict[str, Any] = {}
    for key in form:
        texts = [value for value in form.getlist(key) if isinstance(value, str)]
        if texts:
            values[key] = texts if key.startswith("feature_") or key == "targets" else texts[0]
    values["rerender"] = True
    return values


def saes_for_form(session: Session) -> list[dict[str, Any]]:
    """SAEs that can be chosen: slug, model and size."""
    return [
        {"slug": sae.slug, "model": sae.model, "d_sae": sae.d_sae}
        for sae in list_saes(session).data
    ]


def study_from_job(session: Session, job_id: str | None) -> dict[str, Any]:
    """An earlier encode or steer job's study (uploads still stored, and text), to prefill a
    form; `missing_images` lists the image roles whose upload has expired."""
    params = study_params_of(session, job_id)
    if params is None:
        return {}
    study = params.study
    values: dict[str, Any] = {name: getattr(study, name) or "" for name in TEXT_FIELDS}
    values["missing_images"] = []
    for role, ref in study.uploads().items():
        if get_upload(session, ref.id) is not None:
            values[role] = str(ref.id)
        else:
            values["missing_images"].append(IMAGE_ROLES[role])
    return values


def study_params_of(session: Session, job_id: str | None) -> StudyJobParams | None:
    """The params of an earlier job of a study kind (None for another kind, or old params)."""
    job = get_job(session, job_id) if job_id else None
    kind = get_kind(job.kind) if job is not None else None
    if job is None or kind is None or not issubclass(kind.params, StudyJobParams):
        return None
    try:
        return kind.params.model_validate(job.params)
    except ValidationError:
        return None


def features_from_job(session: Session, job_id: str | None) -> list[dict[str, Any]]:
    """The features and alphas an earlier steer job used (empty for any other job)."""
    params = study_params_of(session, job_id)
    if not isinstance(params, SteerParams):
        return []
    return [
        {"index": feature.index, "alpha": ", ".join(f"{alpha:g}" for alpha in feature.alphas)}
        for feature in params.features
    ]


def result_page(request: Request, session: Session, job_id: str, kind: str) -> HTMLResponse:
    """The job page of a job of `kind` at the kind's own shareable address."""
    job = find_job(session, job_id)
    if job is None or job.kind != kind:
        raise HTTPException(status_code=404, detail=f"There is no {kind} job {job_id!r}.")
    json_url = path_for(request, "api_job", job_id=job.id)
    return render(request, JOB_PAGE, job_context(job), json_url=json_url)
