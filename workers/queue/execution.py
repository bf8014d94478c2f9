"""Runs one attempt of a job: claim it, run its handler in this thread with a heartbeat and
time limit watchdog beside it, and record the outcome.

Retries happen only for infrastructure failures (database connection errors) and for jobs a
worker lost (the reaper); a user error fails at once with its message, a cancel is final, and a
graceful shutdown re-queues the job without counting the attempt.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from procrastinate.exceptions import ConnectorException
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from db import jobs as job_table
from db.jobs import Lease
from workers.kinds.contract import ResultMismatch
from workers.kinds.registry import get_kind
from workers.queue.context import JobCancelled, JobContext, JobFailed, StopReason, StopSignal
from workers.queue.enqueue import defer_run
from workers.queue.handlers import UnknownJobKind, get_handler
from workers.queue.runtime import WorkerRuntime

log = logging.getLogger(__name__)

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    ConnectorException,
    ConnectionError,
)
MAX_RETRY_DELAY_S = 30.0


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: succeeded, failed, cancelled, requeued, skipped or lost."""

    status: str
    error: str | None = None


def describe(error: BaseException) -> str:
    """One line naming an exception, without the SQL or traceback."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


class Watchdog(threading.Thread):
    """Beats the job's heartbeat, relays cancel requests and enforces the time limit."""

    def __init__(
        self, runtime: WorkerRuntime, lease: Lease, stop: StopSignal, limit_s: float
    ) -> None:
        super().__init__(name=f"watchdog {lease.job_id}", daemon=True)
        self.runtime = runtime
        self.lease = lease
        self.stop = stop
        self.limit_s = limit_s
        self._done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.limit_s
        interval = self.runtime.settings.job_heartbeat_s
        while not self._done.wait(min(interval, max(deadline - time.monotonic(), 0.0))):
            if time.monotonic() >= deadline:
                self._time_out()
                return
            self._beat()

    def _time_out(self) -> None:
        if not self.stop.set(StopReason.TIMEOUT):
            return
        error = f"took longer than {self.limit_s:g} s (its time limit) and was stopped"
        try:
            with self.runtime.sessions() as session:
                job_table.finish_job(
                    session, self.lease, "failed", error=error, error_kind="timeout"
                )
        except INFRASTRUCTURE_ERRORS as exc:
            log.warning("job %s: could not record its timeout: %s", self.lease.job_id, exc)

    def _beat(self) -> None:
        try:
            with self.runtime.sessions() as session:
                cancel_requested = job_table.heartbeat(session, self.lease)
        except INFRASTRUCTURE_ERRORS as exc:
            log.warning("job %s: heartbeat failed: %s", self.lease.job_id, describe(exc))
            return
        if cancel_requested is None:
            self.stop.set(StopReason.LOST)
        elif cancel_requested:
            self.stop.set(StopReason.CANCELLED)

    def close(self) -> None:
        self._done.set()
        self.join()


def execute_job(
    runtime: WorkerRuntime,
    job_id: uuid.UUID,
    external_stop: Callable[[], StopReason | None] = lambda: None,
) -> Outcome:
    """Run one attempt of the job if it is still queued; returns how it ended."""
    with runtime.sessions() as session:
        job = job_table.claim_job(session, job_id, runtime.name)
    if job is None:
        log.info("job %s is no longer queued; nothing to do", job_id)
        return Outcome("skipped")
    lease = job_table.lease_of(job)
    stop = StopSignal()
    context = JobContext(
        job=job, lease=lease, runtime=runtime, stop=stop, external_stop=external_stop
    )
    watchdog = Watchdog(runtime, lease, stop, job.timeout_s or runtime.settings.job_timeout_s)
    watchdog.start()
    try:
        ended = _run_handler(context)
    finally:
        watchdog.close()
    try:
        return _record(runtime, lease, job.max_attempts, stop, ended)
    except INFRASTRUCTURE_ERRORS as exc:
        log.error("job %s: outcome not recorded (%s); the reaper will re-queue it", job_id, exc)
        return Outcome("lost", describe(exc))


@dataclass(frozen=True)
class _Ended:
    """What the handler did: returned a result, raised a user error, stopped, or crashed."""

    how: str
    result: dict[str, Any] | None = None
    error: BaseException | None = None


def _call(context: JobContext) -> Any:
    """Run the kind's handler: a typed kind's params are validated first and what it returns
    is checked against its Result (ResultMismatch otherwise)."""
    kind = get_kind(context.kind)
    if kind is None:
        handler = get_handler(context.kind)
        context.raise_if_cancelled()
        return handler(context)
    try:
        params = kind.params.model_validate(context.params)
    except ValidationError as exc:
        raise JobFailed(
            f"the job's parameters do not fit {kind.name} version {kind.version} "
            f"({exc.error_count()} problems, first: {exc.errors()[0]['msg']})"
        ) from None
    function = kind.load_handler()
    context.raise_if_cancelled()
    return kind.check_result(function(context, params)).model_dump(mode="json")


def _run_handler(context: JobContext) -> _Ended:
    try:
        result = _call(context)
    except JobCancelled:
        return _Ended("stopped")
    except (JobFailed, UnknownJobKind) as exc:
        return _Ended("invalid", error=exc)
    except ResultMismatch as exc:
        log.error("job %s (%s): %s", context.job_id, context.kind, exc)
        return _Ended("mismatch", error=exc)
    except INFRASTRUCTURE_ERRORS as exc:
        log.warning("job %s: infrastructure error: %s", context.job_id, describe(exc))
        return _Ended("infrastructure", error=exc)
    except Exception as exc:
        log.exception("job %s (%s) crashed", context.job_id, context.kind)
        return _Ended("crashed", error=exc)
    if not isinstance(result, dict):
        error = TypeError(f"the handler returned {type(result).__name__}, not a dict")
        return _Ended("crashed", error=error)
    return _Ended("returned", result=result)


def _record(
    runtime: WorkerRuntime, lease: Lease, max_attempts: int, stop: StopSignal, ended: _Ended
) -> Outcome:
    if stop.reason in (StopReason.TIMEOUT, StopReason.LOST):
        return _stopped(runtime, lease, stop.reason)
    if ended.how == "returned":
        return _finish(runtime, lease, "succeeded", result=ended.result)
    if ended.how == "invalid":
        return _finish(runtime, lease, "failed", error=str(ended.error), kind="invalid_input")
    if ended.how == "mismatch":
        return _finish(runtime, lease, "failed", error=str(ended.error), kind="internal")
    if ended.how == "crashed":
        error = f"an internal error stopped this job ({describe(ended.error)})"
        return _finish(runtime, lease, "failed", error=error, kind="internal")
    if ended.how == "infrastructure":
        reason = describe(ended.error)
        if lease.attempt < max_attempts:
            delay = min(2.0 ** (lease.attempt - 1), MAX_RETRY_DELAY_S)
            message = f"re-queued after a database error ({reason})"
            return _requeue(runtime, lease, message, count_attempt=True, delay_s=delay)
        error = f"gave up after {lease.attempt} attempts; the last failed with: {reason}"
        return _finish(runtime, lease, "failed", error=error, kind="infrastructure")
    return _stopped(runtime, lease, stop.reason or StopReason.CANCELLED)


def _stopped(runtime: WorkerRuntime, lease: Lease, reason: StopReason) -> Outcome:
    if reason is StopReason.CANCELLED:
        return _finish(runtime, lease, "cancelled")
    if reason is StopReason.SHUTDOWN:
        message = "re-queued: the worker running it was shut down"
        return _requeue(runtime, lease, message, count_attempt=False, delay_s=0.0)
    if reason is StopReason.TIMEOUT:
        return Outcome("failed", "timeout")
    return Outcome("lost")


def _finish(
    runtime: WorkerRuntime,
    lease: Lease,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    kind: str | None = None,
) -> Outcome:
    with runtime.sessions() as session:
        held = job_table.finish_job(
            session, lease, status, result=result, error=error, error_kind=kind
        )
    if not held:
        log.warning("job %s: lease lost before recording %s", lease.job_id, status)
        return Outcome("lost")
    return Outcome(status, error)


def _requeue(
    runtime: WorkerRuntime, lease: Lease, message: str, *, count_attempt: bool, delay_s: float
) -> Outcome:
    with runtime.sessions() as session, session.begin():
        job = job_table.lock_held_job(session, lease)
        if job is None:
            return Outcome("lost")
        job_table.requeue(session, job, message, count_attempt=count_attempt)
        defer_run(session, job, delay_s=delay_s, resumed=True)
    log.info("job %s %s", lease.job_id, message)
    return Outcome("requeued", message)
