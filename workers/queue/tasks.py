"""procrastinate tasks, grouped in blueprints; each takes ids, never objects."""

from __future__ import annotations

import uuid

from procrastinate import Blueprint, JobContext
from procrastinate.exceptions import JobAborted
from procrastinate.job_context import AbortReason

from workers.queue.context import StopReason
from workers.queue.execution import execute_job

jobs_blueprint = Blueprint()

_STOP_REASONS = {
    AbortReason.USER_REQUEST: StopReason.CANCELLED,
    AbortReason.SHUTDOWN: StopReason.SHUTDOWN,
}


class JobNotSucceeded(Exception):
    """Marks the procrastinate entry failed when the job failed (details are in `jobs`)."""


# A sync task: procrastinate runs it in a thread, so the event loop (and with it the worker's
# heartbeat, LISTEN/NOTIFY and abort handling) stays responsive during long model calls.
# retry=False: re-runs are decided by execute_job and the reaper against the jobs table
# (infrastructure failures and lost workers only), never by procrastinate.
@jobs_blueprint.task(name="run_job", pass_context=True, retry=False)
def run_job(context: JobContext, job_id: str) -> str:
    """Run one attempt of the job `job_id` (a `jobs` row) with its kind's handler."""
    runtime = context.additional_context["runtime"]

    def external_stop() -> StopReason | None:
        reason = context.abort_reason()
        return None if reason is None else _STOP_REASONS[reason]

    outcome = execute_job(runtime, uuid.UUID(job_id), external_stop)
    shutdown = context.abort_reason() is AbortReason.SHUTDOWN or runtime.stopping.is_set()
    if outcome.status == "cancelled" or (outcome.status == "requeued" and shutdown):
        raise JobAborted(outcome.status)
    if outcome.status in ("failed", "requeued"):
        raise JobNotSucceeded(outcome.error or outcome.status)
    return outcome.status
