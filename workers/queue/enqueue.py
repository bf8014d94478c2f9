"""Puts a job's queue entry into procrastinate inside the caller's own transaction.

The jobs row and its procrastinate entry are written on the same connection and committed
together: a worker never sees an entry whose row is not there, and an aborted transaction leaves
neither. This client App owns no tasks and no pool; it defers by task name on the caller's
connection, so importing it costs neither torch nor a database connection.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from procrastinate import App, SyncPsycopgConnector
from sqlalchemy.orm import Session

from db.jobs import set_procrastinate_job
from db.models import Job

JOBS_NAMESPACE = "jobs"
RUN_JOB_TASK = f"{JOBS_NAMESPACE}:run_job"


@cache
def client() -> App:
    """The process's deferring client (never opened: it only uses callers' connections)."""
    return App(connector=SyncPsycopgConnector())


def driver_connection(session: Session) -> Any:
    """The psycopg connection under the session's current transaction."""
    return session.connection().connection.driver_connection


def defer_run(session: Session, job: Job, delay_s: float = 0.0) -> int:
    """Queue a run of `job` (after `delay_s`), record the entry on the row; not committed."""
    options: dict[str, Any] = {"priority": job.priority}
    if delay_s > 0:
        options["schedule_in"] = {"seconds": delay_s}
    procrastinate_job_id = (
        client()
        .configure_task(RUN_JOB_TASK, connection=driver_connection(session), **options)
        .defer(job_id=str(job.id))
    )
    set_procrastinate_job(session, job.id, procrastinate_job_id)
    return procrastinate_job_id


def abort_entry(session: Session, procrastinate_job_id: int) -> None:
    """Cancel a waiting queue entry, or ask the worker running it to abort; not committed."""
    client().job_manager.cancel_job_by_id(
        procrastinate_job_id, abort=True, connection=driver_connection(session)
    )
