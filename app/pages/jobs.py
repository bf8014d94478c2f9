"""The job page: a panel that polls itself with htmx until the job has finished."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from app.deps import JobDep, SessionDep
from app.pages.sweep import sweep_chart
from app.schemas.jobs import JobOut
from app.services.jobs import cancel, find_job
from app.templating import path_for, render, render_block
from db.jobs import JobAlreadyFinished, JobNotFound
from workers.kinds.registry import get_kind

router = APIRouter()

PAGE = "jobs/page.html"


def job_context(job: JobOut) -> dict[str, Any]:
    """What the job page and its panel draw: the job and its kind's result template."""
    kind = get_kind(job.kind)
    return {
        "job": job,
        "result_template": kind.result_template if kind else None,
        "sweep_chart": sweep_chart(job.result),
    }


@router.get("/jobs/{job_id}", name="job_page")
def job_page(request: Request, job: JobDep) -> HTMLResponse:
    json_url = path_for(request, "api_job", job_id=job.id)
    return render(request, PAGE, job_context(job), json_url=json_url)


@router.get("/jobs/{job_id}/panel", name="job_panel")
def job_panel(request: Request, job: JobDep) -> HTMLResponse:
    """The panel alone: what the page's htmx polling swaps in."""
    return render_block(request, PAGE, "panel", job_context(job))


@router.delete("/jobs/{job_id}", name="job_cancel")
def job_cancel(request: Request, job: JobDep, session: SessionDep) -> HTMLResponse:
    """The page's Cancel button: cancel, then show the panel as it now stands."""
    updated: JobOut | None
    try:
        updated = cancel(session, job.id)
    except (JobAlreadyFinished, JobNotFound):
        updated = find_job(session, job.id)
    return render_block(request, PAGE, "panel", job_context(updated or job))
