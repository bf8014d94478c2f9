"""Job status for the API and the job page, and cancelling through the queue's submit side."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from app.schemas.jobs import JobOut
from db.jobs import database_now, get_job, queue_position, timings
from db.models import FINISHED_JOB_STATUSES, Job
from workers.queue.submit import cancel_job


def job_out(session: Session, job: Job) -> JobOut:
    """The job as the API shows it, with its queue position and timings."""
    timing = timings(job, database_now(session))
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        finished=job.status in FINISHED_JOB_STATUSES,
        progress=job.progress,
        progress_message=job.progress_message,
        queue_position=queue_position(session, job),
        cancel_requested=job.cancel_requested,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        queued_for_s=timing.queued_for_s,
        ran_for_s=timing.ran_for_s,
        result=job.result,
        error=job.error,
        error_kind=job.error_kind,
    )


def find_job(session: Session, job_id: uuid.UUID | str) -> JobOut | None:
    """The job's status, or None when there is no such job."""
    job = get_job(session, job_id)
    return None if job is None else job_out(session, job)


def cancel(session: Session, job_id: uuid.UUID | str) -> JobOut:
    """Cancel the job (see workers.queue.submit.cancel_job); raises JobNotFound or
    JobAlreadyFinished."""
    return job_out(session, cancel_job(session, job_id))
