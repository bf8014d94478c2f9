"""Job status for the API and the job page (with current feature labels and whether any worker
can run it), and cancelling through the queue's submit side."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.schemas.jobs import JOB_OUT, JobOut, Problem, StudyImage
from db.jobs import database_now, get_job, parse_job_id, queue_position, timings
from db.models import FINISHED_JOB_STATUSES, Feature, Job, Sae, Upload
from db.workers import count_live_workers, silent_for_s
from workers.kinds.registry import get_kind
from workers.kinds.study import IMAGE_ROLES, StudyJobParams
from workers.queue.submit import cancel_job

log = logging.getLogger(__name__)

START_A_WORKER = "An administrator must start one: maira-sae worker"
OLD_RESULT = "This result was stored in an older format and cannot be shown; run the job again."


def current_labels(session: Session, sae_slug: str, indices: list[int]) -> dict[int, str | None]:
    """The labels the given features of an SAE have now (features without a row are left out)."""
    if not sae_slug or not indices:
        return {}
    rows = session.execute(
        select(Feature.index, Feature.label)
        .join(Sae, Sae.id == Feature.sae_id)
        .where(Sae.slug == sae_slug, Feature.index.in_(sorted(set(indices))))
    ).all()
    return {index: label for index, label in rows}


def _typed_result(session: Session, job: Job) -> tuple[Any, dict[int, str | None], str | None]:
    """The result checked against its kind, the current labels of the features it names, and
    a notice when a stored result no longer fits its kind."""
    kind = get_kind(job.kind)
    if job.result is None or kind is None:
        return job.result, {}, None
    try:
        result = kind.result.model_validate(job.result)
    except ValidationError:
        log.warning(
            "job %s: stored %s result does not fit version %d", job.id, kind.name, kind.version
        )
        return None, {}, OLD_RESULT
    refs = result.feature_refs()
    labels = current_labels(session, refs.sae, refs.indices) if refs else {}
    return result, labels, None


def _images(session: Session, job: Job) -> list[StudyImage]:
    """The study's images of a study kind's job, and whether each upload is still stored."""
    kind = get_kind(job.kind)
    study = job.params.get("study")
    if kind is None or not issubclass(kind.params, StudyJobParams) or not isinstance(study, dict):
        return []
    refs = {role: study.get(role) for role in IMAGE_ROLES}
    ids = {role: parse_job_id(ref["id"]) for role, ref in refs.items() if isinstance(ref, dict)}
    wanted = [upload_id for upload_id in ids.values() if upload_id is not None]
    stored = set(
        session.scalars(
            select(Upload.id).where(Upload.id.in_(wanted), Upload.expires_at > func.now())
        )
    )
    return [
        StudyImage(role=role, upload_id=upload_id, available=upload_id in stored)
        for role, upload_id in ids.items()
        if upload_id is not None
    ]


def _liveness(session: Session, job: Job, workers_alive: int) -> tuple[Problem | None, str | None]:
    """What keeps an unfinished job from moving, in words a radiologist reads first."""
    next_attempt = f"attempt {job.attempts + 1} of {job.max_attempts}"
    if job.status == "running":
        silent = silent_for_s(session, job)
        if silent is None:
            return None, None
        if job.attempts >= job.max_attempts:
            then = "it will be marked as failed, since this was its last attempt"
        elif workers_alive:
            then = f"it will be put back at the front of the queue ({next_attempt}) within seconds"
        else:
            then = (
                f"it will be put back at the front of the queue ({next_attempt}) once a model "
                f"worker is running. {START_A_WORKER}"
            )
        return "worker_lost", (
            f"The model worker running this job stopped responding {silent:.0f} s ago; {then}."
        )
    if job.status != "queued":
        return None, None
    requeued = (
        f"Its worker was lost, so it is back at the front of the queue; {next_attempt} "
        "starts when a worker is free."
        if job.attempts
        else ""
    )
    if not workers_alive:
        no_worker = f"No model worker is running, so this job cannot start. {START_A_WORKER}."
        return "no_worker", f"{no_worker} {requeued}".strip()
    return None, requeued or None


def job_out(session: Session, job: Job) -> JobOut:
    """The job as the API shows it, with its queue position, timings, liveness and labels."""
    timing = timings(job, database_now(session))
    result, labels, stale_result = _typed_result(session, job)
    workers_alive = count_live_workers(session)
    problem, notice = _liveness(session, job, workers_alive)
    return JOB_OUT.validate_python(
        {
            "id": job.id,
            "kind": job.kind,
            "status": job.status,
            "finished": job.status in FINISHED_JOB_STATUSES,
            "progress": job.progress,
            "progress_message": job.progress_message,
            "queue_position": queue_position(session, job),
            "cancel_requested": job.cancel_requested,
            "attempts": job.attempts,
            "max_attempts": job.max_attempts,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "queued_for_s": timing.queued_for_s,
            "ran_for_s": timing.ran_for_s,
            "result": result,
            "error": job.error,
            "error_kind": job.error_kind,
            "workers_alive": workers_alive,
            "problem": problem,
            "notice": notice or stale_result,
            "feature_labels": labels,
            "images": _images(session, job),
        }
    )


def find_job(session: Session, job_id: uuid.UUID | str) -> JobOut | None:
    """The job's status, or None when there is no such job."""
    job = get_job(session, job_id)
    return None if job is None else job_out(session, job)


def cancel(session: Session, job_id: uuid.UUID | str) -> JobOut:
    """Cancel the job (see workers.queue.submit.cancel_job); raises JobNotFound or
    JobAlreadyFinished."""
    return job_out(session, cancel_job(session, job_id))
