"""The submit side the web app imports: create a job and queue it, or cancel it.

Light on purpose: no torch, no transformers, no model code (tests check `sys.modules`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_sessionmaker
from db.jobs import create_job, request_cancel
from db.models import Job
from db.settings import get_settings
from workers.queue.enqueue import abort_entry, defer_run


@cache
def _sessions_for(url: str) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(url))


@contextmanager
def _session(db: Session | str) -> Iterator[Session]:
    if isinstance(db, Session):
        yield db
        return
    with _sessions_for(db)() as session:
        yield session


def submit_job(
    db: Session | str,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    priority: int = 0,
    cache_key: str | None = None,
    max_attempts: int | None = None,
    timeout_s: float | None = None,
) -> Job:
    """Create a queued job of `kind` and queue it for a worker; commits and returns the job
    (see `queue_job`)."""
    job, _ = queue_job(
        db,
        kind,
        params,
        priority=priority,
        cache_key=cache_key,
        max_attempts=max_attempts,
        timeout_s=timeout_s,
    )
    return job


def queue_job(
    db: Session | str,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    priority: int = 0,
    cache_key: str | None = None,
    max_attempts: int | None = None,
    timeout_s: float | None = None,
) -> tuple[Job, bool]:
    """Create a queued job of `kind` and queue it for a worker; commits and returns the job and
    whether it is new.

    `db` is a session (its pending work is committed with the job) or a database URL. With a
    `cache_key` that a queued, running or succeeded job already holds, that job is returned and
    nothing new is queued. Higher `priority` runs first; `timeout_s` overrides the worker's
    time limit; `max_attempts` bounds re-runs after a worker died or the database failed.
    """
    with _session(db) as session:
        job, created = create_job(
            session,
            kind=kind,
            params=params or {},
            priority=priority,
            cache_key=cache_key,
            max_attempts=max_attempts or get_settings().job_max_attempts,
            timeout_s=timeout_s,
        )
        if created:
            defer_run(session, job)
        session.commit()
        session.refresh(job)
        return job, created


def cancel_job(db: Session | str, job_id: uuid.UUID | str) -> Job:
    """Cancel a job: a queued one is cancelled at once, a running one is asked to stop and
    becomes cancelled when its handler next checks. Commits and returns the job.

    Raises db.jobs.JobNotFound, or db.jobs.JobAlreadyFinished when it has already ended.
    """
    with _session(db) as session:
        job = request_cancel(session, job_id)
        if job.procrastinate_job_id is not None:
            abort_entry(session, job.procrastinate_job_id)
        session.commit()
        return job
