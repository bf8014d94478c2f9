"""Job-table service: create, read, claim, heartbeat, finish, re-queue and cancel jobs.

Used by the web app (submit, status, cancel) and by workers (claim, progress, outcome). A worker
holds a job through a `Lease` (job id, attempt number, worker name); every write a worker makes
is conditional on the lease, so a worker that lost its job (re-queued by the reaper after its
heartbeat went stale) can never overwrite what the next attempt records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import FINISHED_JOB_STATUSES, Job
from db.ownership import can_see, owner_values


class JobNotFound(LookupError):
    """No job has this id."""


class JobAlreadyFinished(Exception):
    """The job succeeded, failed or was cancelled already; it cannot be cancelled."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id} already {job.status}")
        self.job = job


@dataclass(frozen=True)
class Lease:
    """A worker's claim on one attempt of a job."""

    job_id: uuid.UUID
    attempt: int
    worker: str


@dataclass(frozen=True)
class Timings:
    """How long a job waited in the queue and how long it has run (seconds, None if not yet)."""

    queued_for_s: float
    ran_for_s: float | None


def parse_job_id(job_id: uuid.UUID | str) -> uuid.UUID | None:
    """The UUID a path segment or argument names, or None when it is not a UUID."""
    if isinstance(job_id, uuid.UUID):
        return job_id
    try:
        return uuid.UUID(job_id)
    except ValueError:
        return None


def create_job(
    session: Session,
    *,
    kind: str,
    params: dict[str, Any],
    priority: int = 0,
    cache_key: str | None = None,
    max_attempts: int = 3,
    timeout_s: float | None = None,
) -> tuple[Job, bool]:
    """Insert a queued job; returns (job, True). With a `cache_key` already held by a queued,
    running or succeeded job, returns (that job, False) instead; a failed or cancelled job gives
    its key up to the new one. Flushes, does not commit."""
    values = {
        "kind": kind,
        "params": params,
        "priority": priority,
        "cache_key": cache_key,
        "max_attempts": max_attempts,
        "timeout_s": timeout_s,
        "created_at": func.clock_timestamp(),  # orders jobs submitted in one transaction too
        **owner_values(session),
    }
    if cache_key is None:
        job = Job(**values)
        session.add(job)
        session.flush()
        return job, True
    session.execute(
        update(Job)
        .where(Job.cache_key == cache_key, Job.status.in_(("failed", "cancelled")))
        .values(cache_key=None)
    )
    inserted = session.execute(
        insert(Job)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["cache_key"], index_where=Job.cache_key.is_not(None)
        )
        .returning(Job.id)
    ).scalar_one_or_none()
    if inserted is not None:
        return session.get_one(Job, inserted), True
    return session.scalars(select(Job).where(Job.cache_key == cache_key)).one(), False


def set_procrastinate_job(session: Session, job_id: uuid.UUID, procrastinate_job_id: int) -> None:
    """Record which procrastinate job carries this job to a worker."""
    session.execute(
        update(Job).where(Job.id == job_id).values(procrastinate_job_id=procrastinate_job_id)
    )


def get_job(session: Session, job_id: uuid.UUID | str) -> Job | None:
    """The job with this id (fresh from the database), or None; a malformed id is None too, and
    so is another person's job (see db.ownership)."""
    parsed = parse_job_id(job_id)
    if parsed is None:
        return None
    job = session.get(Job, parsed, populate_existing=True)
    return job if job is not None and can_see(session, job) else None


_AHEAD_IN_QUEUE = text(
    """
    SELECT count(*) FROM jobs j
    JOIN procrastinate_jobs p ON p.id = j.procrastinate_job_id
    JOIN procrastinate_jobs mine ON mine.id = :entry
    WHERE j.status = 'queued' AND p.status = 'todo' AND j.id <> :job
      AND (p.priority > mine.priority OR (p.priority = mine.priority AND p.id < mine.id))
    """
)


def queue_position(session: Session, job: Job) -> int | None:
    """How many queued jobs run before this one (0 = next), or None when it is not queued.

    Order is procrastinate's over the jobs' queue entries: higher entry priority first, then
    the older entry (a job put back after its worker was lost goes ahead of its priority). A
    job without a waiting entry (the reaper is giving it a new one) is placed by its priority
    and submission time."""
    if job.status != "queued":
        return None
    if job.procrastinate_job_id is not None:
        entry_waits = session.scalar(
            text("SELECT status = 'todo' FROM procrastinate_jobs WHERE id = :entry"),
            {"entry": job.procrastinate_job_id},
        )
        if entry_waits:
            return session.scalar(
                _AHEAD_IN_QUEUE, {"entry": job.procrastinate_job_id, "job": job.id}
            )
    ahead = select(func.count()).where(
        Job.status == "queued",
        or_(
            Job.priority > job.priority,
            and_(
                Job.priority == job.priority,
                or_(
                    Job.created_at < job.created_at,
                    and_(Job.created_at == job.created_at, Job.id < job.id),
                ),
            ),
        ),
    )
    return session.scalar(ahead)


def timings(job: Job, now: datetime) -> Timings:
    """Time spent waiting (until the last start, or until now) and running (until the end)."""
    waited_until = job.started_at or job.finished_at or now
    ran_for = None
    if job.started_at is not None:
        ran_for = ((job.finished_at or now) - job.started_at).total_seconds()
    return Timings(
        queued_for_s=max((waited_until - job.created_at).total_seconds(), 0.0),
        ran_for_s=None if ran_for is None else max(ran_for, 0.0),
    )


def database_now(session: Session) -> datetime:
    """The database's clock, which stamped every time column."""
    return session.scalar(select(func.now()))


def request_cancel(session: Session, job_id: uuid.UUID | str) -> Job:
    """Cancel a queued job at once, or ask a running one to stop (its handler checks between
    steps); returns the updated job.

    Raises JobNotFound or JobAlreadyFinished. Does not commit."""
    job = get_job(session, job_id)
    if job is None:
        raise JobNotFound(str(job_id))
    changed = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status.in_(("queued", "running")))
        .values(
            cancel_requested=True,
            status=case((Job.status == "queued", "cancelled"), else_=Job.status),
            finished_at=case((Job.status == "queued", func.now()), else_=Job.finished_at),
        )
        .returning(Job.id)
    ).scalar_one_or_none()
    session.refresh(job)
    if changed is None:
        raise JobAlreadyFinished(job)
    return job


def claim_job(session: Session, job_id: uuid.UUID, worker: str) -> Job | None:
    """Start the next attempt of a queued job on `worker`; None when it is not queued (it was
    cancelled, or another copy of its queue entry got there first). Commits."""
    job = session.scalars(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(
            status="running",
            attempts=Job.attempts + 1,
            worker=worker,
            started_at=func.now(),
            heartbeat_at=func.now(),
            progress=0.0,
            progress_message=None,
            error=None,
            error_kind=None,
        )
        .returning(Job),
        execution_options={"populate_existing": True},
    ).one_or_none()
    session.commit()
    return job


def lease_of(job: Job) -> Lease:
    """The lease a worker holds after claiming `job`."""
    assert job.worker is not None
    return Lease(job.id, job.attempts, job.worker)


def _held(lease: Lease) -> Any:
    return and_(
        Job.id == lease.job_id,
        Job.status == "running",
        Job.attempts == lease.attempt,
        Job.worker == lease.worker,
    )


def heartbeat(session: Session, lease: Lease) -> bool | None:
    """Mark the attempt alive; returns whether a cancel was requested, or None if the lease is
    lost (the job was re-queued, finished or taken over). Commits."""
    cancel_requested = session.execute(
        update(Job)
        .where(_held(lease))
        .values(heartbeat_at=func.now())
        .returning(Job.cancel_requested)
    ).scalar_one_or_none()
    session.commit()
    return cancel_requested


def report_progress(session: Session, lease: Lease, fraction: float, message: str | None) -> bool:
    """Store progress (clamped to 0..1), which also counts as a heartbeat; False if the lease is
    lost. Commits."""
    held = session.execute(
        update(Job)
        .where(_held(lease))
        .values(
            progress=min(max(float(fraction), 0.0), 1.0),
            progress_message=message,
            heartbeat_at=func.now(),
        )
        .returning(Job.id)
    ).scalar_one_or_none()
    session.commit()
    return held is not None


def finish_job(
    session: Session,
    lease: Lease,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    error_kind: str | None = None,
) -> bool:
    """Record the attempt's outcome (succeeded, failed or cancelled); False if the lease was
    lost and nothing was written. Commits."""
    if status not in FINISHED_JOB_STATUSES:
        raise ValueError(f"not a finished status: {status}")
    values: dict[str, Any] = {
        "status": status,
        "result": result,
        "error": error,
        "error_kind": error_kind,
        "finished_at": func.now(),
        "heartbeat_at": None,
    }
    if status == "succeeded":
        values["progress"] = 1.0
    held = session.execute(
        update(Job).where(_held(lease)).values(**values).returning(Job.id)
    ).scalar_one_or_none()
    session.commit()
    return held is not None


def requeue(session: Session, job: Job, reason: str, *, count_attempt: bool = True) -> None:
    """Put a running job back in the queue (the caller defers a new queue entry for it in the
    same transaction). `count_attempt=False` gives the attempt back (graceful shutdown).
    Does not commit."""
    session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(
            status="queued",
            worker=None,
            heartbeat_at=None,
            started_at=None,
            progress=0.0,
            progress_message=reason,
            attempts=Job.attempts if count_attempt else Job.attempts - 1,
        )
    )


def fail(session: Session, job: Job, error: str, error_kind: str) -> None:
    """Fail a job on behalf of a worker that can no longer do it. Does not commit."""
    session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(
            status="failed",
            error=error,
            error_kind=error_kind,
            finished_at=func.now(),
            heartbeat_at=None,
        )
    )


def lock_held_job(session: Session, lease: Lease) -> Job | None:
    """Lock the job while `lease` still holds it (for a re-queue by its own worker)."""
    return session.scalars(
        select(Job).where(_held(lease)).with_for_update(),
        execution_options={"populate_existing": True},
    ).one_or_none()


def lock_stale_jobs(session: Session, stale_after_s: float) -> list[Job]:
    """Lock running jobs whose heartbeat is older than `stale_after_s`; rows another reaper is
    handling are skipped."""
    return list(
        session.scalars(
            select(Job)
            .where(
                Job.status == "running",
                Job.heartbeat_at < func.now() - timedelta(seconds=stale_after_s),
            )
            .order_by(Job.heartbeat_at)
            .with_for_update(skip_locked=True),
            execution_options={"populate_existing": True},
        )
    )
