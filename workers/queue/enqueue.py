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

from db.driver import driver_connection
from db.jobs import set_procrastinate_job
from db.models import Job

JOBS_NAMESPACE = "jobs"
RUN_JOB_TASK = f"{JOBS_NAMESPACE}:run_job"
PRIORITY_BOUND = 2**29


@cache
def client() -> App:
    """The process's deferring client (never opened: it only uses callers' connections)."""
    return App(connector=SyncPsycopgConnector())


def entry_priority(priority: int, *, resumed: bool) -> int:
    """The queue entry's priority for a job of `priority`. procrastinate takes the highest
    priority first, then the oldest entry; job priority p maps to 2p, or 2p + 1 for a job put
    back after its worker was lost or stopped, so that job goes ahead of every job of its own
    priority that has not started yet (where it stood when it first started), never ahead of
    a higher priority."""
    bounded = min(max(priority, -PRIORITY_BOUND), PRIORITY_BOUND)
    return 2 * bounded + (1 if resumed else 0)


def defer_run(session: Session, job: Job, delay_s: float = 0.0, *, resumed: bool = False) -> int:
    """Queue a run of `job` (after `delay_s`; `resumed` for a job put back in the queue, see
    `entry_priority`), record the entry on the row; not committed."""
    options: dict[str, Any] = {"priority": entry_priority(job.priority, resumed=resumed)}
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
