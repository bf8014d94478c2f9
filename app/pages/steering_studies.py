"""Steering-study pages: a form to start one (images uploaded or earlier upload ids), and the
study's page (progress over its parts, then outcome shares per feature and alpha, a chart, CSV)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.api.steering_studies import study_urls
from app.deps import SessionDep, SettingsDep, rate_limited
from app.errors import describe_error
from app.pages.charts import Chart, paired_bars
from app.pages.live import saes_for_form
from app.schemas.steering_studies import SteeringStudyOut, SteeringStudyRequest
from app.services.alpha import alpha_guides
from app.services.jobs import current_labels
from app.services.steering_studies import find_steering_study, submit_steering_study
from app.services.study_sets import list_study_sets
from app.services.uploads import (
    RequestRejected,
    prepare_upload,
    read_form,
    read_upload,
    store_upload,
)
from app.templating import path_for, render
from db.settings import Settings
from workers.findings.phrases import OBSERVATIONS
from workers.kinds.steering_study import MAX_STUDIES

router = APIRouter()

_LIST = re.compile(r"[\s,;]+")
DEFAULT_SET_STUDIES = 20
"""Studies the form takes from a study set unless told: a first study finishes in minutes."""


def _split(text: object) -> list[str]:
    return [part for part in _LIST.split(text) if part] if isinstance(text, str) else []


def _render_form(
    request: Request,
    session: Session,
    values: dict[str, Any],
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "saes": saes_for_form(session),
        "values": values,
        "errors": errors or [],
        "observations": OBSERVATIONS,
        "alpha_guides": alpha_guides(session, request.app.state.settings.steering_scale),
        "study_sets": list_study_sets(request.app.state.settings).data,
        "max_studies": MAX_STUDIES,
    }
    return render(request, "steering_studies/form.html", context, status_code=status_code)


@router.get("/steering-studies/new", name="steering_study_form")
def steering_study_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    sae: Annotated[str | None, Query(max_length=200)] = None,
    feature: Annotated[list[int] | None, Query()] = None,
) -> HTMLResponse:
    """The form to start a steering study, prefilled from a feature page; the first study set
    on the server (the demo's held-out studies) is chosen, so nothing needs uploading."""
    sets = list_study_sets(settings).data
    values = {
        "sae": sae or "",
        "features": ", ".join(str(index) for index in feature or []),
        "alphas": "-10, 10",
        "study_set": sets[0].name if sets else "",
        "study_set_limit": DEFAULT_SET_STUDIES,
    }
    return _render_form(request, session, values)


def _store_images(session: Session, settings: Settings, files: list[UploadFile]) -> list[str]:
    stored = []
    for number, file in enumerate(files, start=1):
        what = f"Image {number} ({file.filename or 'no name'})"
        image = prepare_upload(
            read_upload(file, settings, what), file.filename or "", settings, what
        )
        stored.append(str(store_upload(session, settings, image).id))
    return stored


def _request_values(form: FormData) -> dict[str, Any]:
    text = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    values: dict[str, Any] = {
        "sae": text.get("sae", ""),
        "features": _split(text.get("features")),
        "alphas": _split(text.get("alphas")),
        "alpha_unit": text.get("alpha_unit") or "raw",
        "max_new_tokens": text.get("max_new_tokens") or 60,
    }
    targets = [value for value in form.getlist("targets") if isinstance(value, str)]
    if targets:
        values["targets"] = targets
    if text.get("parts", "").strip():
        values["parts"] = text["parts"]
    return values


async def _uploaded_studies(
    session: Session,
    settings: Settings,
    values: dict[str, Any],
    shown: dict[str, Any],
    files: list[UploadFile],
    ids: list[str],
) -> SteeringStudyRequest:
    """The request over the uploaded images and earlier upload ids (checked before storing)."""
    SteeringStudyRequest.model_validate(
        {**values, "studies": [{"frontal": "00000000-0000-0000-0000-000000000000"}]}
    )
    ids = [*ids, *await run_in_threadpool(_store_images, session, settings, files)]
    shown["upload_ids"] = " ".join(ids)
    if not ids:
        raise RequestRejected(
            422,
            "Studies: choose frontal images, or give the ids of earlier uploads, or choose a "
            "study set.",
        )
    indication = (shown.get("indication") or "").strip() or None
    return SteeringStudyRequest.model_validate(
        {**values, "studies": [{"frontal": upload, "indication": indication} for upload in ids]}
    )


@router.post(
    "/steering-studies",
    name="steering_study_submit",
    dependencies=[rate_limited("steering_studies")],
)
async def steering_study_submit(
    request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Store the images, queue the study's parts and go to its page (or show the form again)."""
    form = await read_form(request, settings)
    shown: dict[str, Any] = {
        key: value for key, value in form.multi_items() if isinstance(value, str)
    }
    shown["targets"] = [value for value in form.getlist("targets") if isinstance(value, str)]
    try:
        values = _request_values(form)
        files = [
            value
            for value in form.getlist("images")
            if isinstance(value, UploadFile) and (value.filename or value.size)
        ]
        ids = _split(shown.get("upload_ids"))
        study_set = (shown.get("study_set") or "").strip()
        if study_set:
            if ids or files:
                raise RequestRejected(422, "Studies: choose a study set or images, not both.")
            body = SteeringStudyRequest.model_validate(
                {
                    **values,
                    "study_set": {
                        "name": study_set,
                        "limit": shown.get("study_set_limit") or DEFAULT_SET_STUDIES,
                    },
                }
            )
        else:
            body = await _uploaded_studies(session, settings, values, shown, files, ids)
        study = await run_in_threadpool(submit_steering_study, session, settings, body)
    except RequestRejected as error:
        return _render_form(request, session, shown, [error.message], error.status_code)
    except ValidationError as error:
        messages = [describe_error(item) for item in error.errors(include_url=False)]
        return _render_form(request, session, shown, messages, 422)
    finally:
        await form.close()
    page = path_for(request, "steering_study_page", study_id=str(study.id))
    return RedirectResponse(page, status_code=303)


def outcome_chart(study: SteeringStudyOut, index: int) -> Chart | None:
    """A feature's share of reports with an on-target and with an off-target change, by alpha."""
    feature = next((f for f in study.results or [] if f.index == index), None)
    if feature is None:
        return None
    return paired_bars(
        [
            (
                f"{cell.alpha:g}",
                cell.on_only.share + cell.both.share,
                cell.off_only.share + cell.both.share,
            )
            for cell in feature.cells
        ],
        names=("reports with an on-target change", "reports with an off-target change"),
        description=f"Feature {index}: share of reports with on-target (solid) and off-target "
        "(faded) finding changes at each alpha.",
        x_label="alpha",
        y_label="share of reports",
        y_top=1.0,
        y_format=lambda value: f"{value:.0%}",
    )


@router.get("/steering-studies/{study_id}", name="steering_study_page")
def steering_study_page(request: Request, study_id: str, session: SessionDep) -> HTMLResponse:
    """The study: progress while its parts run, then the outcome table, charts and CSV."""
    study = find_steering_study(session, study_id, study_urls(request))
    if study is None:
        raise HTTPException(404, f"There is no steering study {study_id!r}.")
    context = {
        "study": study,
        "labels": current_labels(session, study.sae, study.features),
        "charts": {index: outcome_chart(study, index) for index in study.features},
        "json_url": path_for(request, "api_steering_study", study_id=str(study.id)),
    }
    return render(request, "steering_studies/page.html", context)
