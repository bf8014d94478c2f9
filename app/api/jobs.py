"""JSON API for jobs: status, progress and result; DELETE cancels."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from app.deps import JobDep, SessionDep
from app.schemas.jobs import JobOut
from app.services.jobs import cancel
from db.jobs import JobAlreadyFinished

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}", name="api_job")
def get_job(job: JobDep) -> JobOut:
    """Status, progress, place in the queue, timings, and the result or the error."""
    return job


@router.delete(
    "/{job_id}",
    name="api_cancel_job",
    responses={404: {"description": "No such job."}, 409: {"description": "Already finished."}},
)
def cancel_job(job: JobDep, session: SessionDep) -> JobOut:
    """Cancel the job. A queued job is cancelled at once; a running one has `cancel_requested`
    set and becomes `cancelled` when its worker next checks (within about a second)."""
    try:
        return cancel(session, job.id)
    except JobAlreadyFinished as finished:
        raise HTTPException(
            status_code=409,
            detail=f"Job {job.id} has already {finished.job.status}; it cannot be cancelled.",
        ) from None
