"""The encode page: upload a study, then read its report token by token through an SAE."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, Response

from app.deps import SessionDep, SettingsDep, rate_limited
from app.pages.live import result_page, saes_for_form, study_from_job, submit_form
from app.schemas.live import DEFAULT_MAX_NEW_TOKENS, MAX_NEW_TOKENS_CAP, EncodeRequest
from app.services.live import submit_encode
from app.templating import render

router = APIRouter()

FORM = "encode/form.html"


def _render_form(
    request: Request,
    session: Session,
    values: dict[str, object],
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "saes": saes_for_form(session),
        "values": values,
        "errors": errors or [],
        "max_new_tokens_cap": MAX_NEW_TOKENS_CAP,
        "default_max_new_tokens": DEFAULT_MAX_NEW_TOKENS,
    }
    return render(request, FORM, context, status_code=status_code)


@router.get("/encode", name="encode_page")
def encode_page(
    request: Request,
    session: SessionDep,
    sae: Annotated[str | None, Query(max_length=200)] = None,
    from_job: Annotated[str | None, Query(alias="from", max_length=64)] = None,
) -> HTMLResponse:
    """The upload form (optionally reusing an earlier job's study)."""
    values = {"sae": sae or "", **study_from_job(session, from_job)}
    return _render_form(request, session, values)


@router.post("/encode", name="encode_submit", dependencies=[rate_limited("encode")])
async def encode_submit(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Store the images, queue the job, and go to its page; errors come back on the form."""
    return await submit_form(
        request,
        session,
        settings,
        model=EncodeRequest,
        submit=submit_encode,
        render_form=_render_form,
        result_route="encode_result_page",
    )


@router.get("/encode/{job_id}", name="encode_result_page")
def encode_result_page(request: Request, job_id: str, session: SessionDep) -> HTMLResponse:
    """An encode job: progress while it runs, then the highlighted report."""
    return result_page(request, session, job_id, "encode")
