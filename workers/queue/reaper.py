"""Finds jobs whose worker died and re-queues them (or fails them after their last attempt).

Every worker runs `reap` at start and then every `job_heartbeat_s`. A running job whose
heartbeat is older than `job_stale_after_s` lost its worker (SIGKILL, power loss, network
partition): it is re-queued while attempts remain, ahead of the jobs of its priority that have not
started (see workers.queue.enqueue.entry_priority), else failed with WORKER_LOST. So a job of a
dead worker is back in the queue at most `job_stale_after_s + job_heartbeat_s` after its last
heartbeat, as long as one other worker is up. Rows are locked with SKIP LOCKED, so any number of
workers may reap at once.

Queued jobs whose queue entry can no longer run them (it ended, or it was fetched by a worker
that then died before starting the job) get a fresh entry; procrastinate's entries left `doing`
by dead workers are marked failed. Those two judge a worker by procrastinate's own worker
heartbeat, with a bound of at least ENTRY_STALE_AFTER_S: procrastinate prunes workers it deems
stalled, and a live worker pruned by mistake could no longer fetch jobs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from procrastinate import App
from procrastinate.exceptions import ConnectorException
from procrastinate.jobs import Status
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from db import jobs as job_table
from db.models import Job
from workers.queue.enqueue import RUN_JOB_TASK, defer_run
from workers.queue.execution import INFRASTRUCTURE_ERRORS, describe

log = logging.getLogger(__name__)

WORKER_LOST = "the worker running this job stopped unexpectedly"
ENTRY_STALE_AFTER_S = 30.0


def entry_stale_after(stale_after_s: float) -> float:
    """Bound on procrastinate's worker heartbeat (its `stalled_worker_timeout`)."""
    return max(stale_after_s, ENTRY_STALE_AFTER_S)


_ORPHANED_QUEUED_JOBS = text(
    """
    SELECT j.id FROM jobs j
    LEFT JOIN procrastinate_jobs p ON p.id = j.procrastinate_job_id
    LEFT JOIN procrastinate_workers w ON w.id = p.worker_id
    WHERE j.status = 'queued'
      AND (p.id IS NULL
           OR p.status NOT IN ('todo', 'doing')
           OR (p.status = 'doing'
               AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => :stale))))
    FOR UPDATE OF j SKIP LOCKED
    """
)


@dataclass
class Reaped:
    """Job ids the reaper acted on."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    redeferred: list[str] = field(default_factory=list)


def reap(sessions: sessionmaker[Session], stale_after_s: float) -> Reaped:
    """One pass over the jobs table (one transaction); returns what it changed."""
    reaped = Reaped()
    with sessions() as session, session.begin():
        for job in job_table.lock_stale_jobs(session, stale_after_s):
            if job.attempts < job.max_attempts:
                job_table.requeue(session, job, f"re-queued: {WORKER_LOST}")
                defer_run(session, job, resumed=True)
                reaped.requeued.append(str(job.id))
            else:
                job_table.fail(session, job, WORKER_LOST, "worker_lost")
                reaped.failed.append(str(job.id))
        orphans = session.scalars(
            _ORPHANED_QUEUED_JOBS, {"stale": entry_stale_after(stale_after_s)}
        ).all()
        for job_id in orphans:
            job = session.get_one(Job, job_id)
            defer_run(session, job, resumed=job.attempts > 0)
            reaped.redeferred.append(str(job_id))
    if reaped.requeued or reaped.failed or reaped.redeferred:
        log.warning(
            "reaper: re-queued %s, failed %s, new queue entries for %s",
            reaped.requeued,
            reaped.failed,
            reaped.redeferred,
        )
    return reaped


async def finish_stalled_entries(app: App, stale_after_s: float) -> list[int]:
    """Mark failed the procrastinate entries left `doing` by dead workers; returns their ids."""
    finished = []
    for entry in await app.job_manager.get_stalled_jobs(
        task_name=RUN_JOB_TASK, seconds_since_heartbeat=entry_stale_after(stale_after_s)
    ):
        assert entry.id is not None
        try:
            await app.job_manager.finish_job_by_id_async(entry.id, Status.FAILED, delete_job=False)
        except ConnectorException:  # another worker's reaper finished it first
            continue
        finished.append(entry.id)
    return finished


async def reap_forever(
    app: App, sessions: sessionmaker[Session], stale_after_s: float, interval_s: float
) -> None:
    """Reap now and then every `interval_s` until cancelled; errors are logged, not fatal."""
    while True:
        try:
            await asyncio.to_thread(reap, sessions, stale_after_s)
            await finish_stalled_entries(app, stale_after_s)
        except INFRASTRUCTURE_ERRORS as exc:
            log.warning("reaper: database unavailable (%s)", describe(exc))
        except Exception:
            log.exception("reaper failed")
        await asyncio.sleep(interval_s)
