"""What a job handler gets: its parameters, progress reporting, cancellation and resources."""

from __future__ import annotations

import enum
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from db import jobs as job_table
from db.jobs import Lease
from db.models import Job

if TYPE_CHECKING:
    from workers.queue.resources import Resources
    from workers.queue.runtime import WorkerRuntime

PROGRESS_WRITE_INTERVAL_S = 0.2


class JobFailed(Exception):
    """Raised by a handler for a problem with the job's input: the job fails with this message
    (shown to the user as is) and is not retried."""


class JobCancelled(Exception):
    """Raised by `JobContext.raise_if_cancelled`; the worker records why the job stopped."""


class StopReason(enum.Enum):
    """Why a running job was told to stop."""

    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    SHUTDOWN = "shutdown"
    LOST = "lost"


class StopSignal:
    """A thread-safe stop flag that remembers the first reason given."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._reason: StopReason | None = None

    def set(self, reason: StopReason) -> bool:
        """Ask to stop; returns True for the first request only."""
        with self._lock:
            if self._reason is not None:
                return False
            self._reason = reason
            self._event.set()
            return True

    @property
    def reason(self) -> StopReason | None:
        return self._reason

    def is_set(self) -> bool:
        return self._event.is_set()


class JobContext:
    """Handed to every handler (`handler(ctx) -> dict`, or a typed kind's
    `handler(ctx, params) -> Result`): raw params, progress, cancellation checks, resources.

    Handlers call `raise_if_cancelled()` (or test `is_cancelled()`) between steps or tokens;
    a cancel, the time limit or a worker shutdown all surface there.
    """

    def __init__(
        self,
        *,
        job: Job,
        lease: Lease,
        runtime: WorkerRuntime,
        stop: StopSignal,
        external_stop: Callable[[], StopReason | None],
    ) -> None:
        self.job_id: uuid.UUID = job.id
        self.kind: str = job.kind
        self.params: dict[str, Any] = dict(job.params)
        self.attempt: int = job.attempts
        self.lease = lease
        self.runtime = runtime
        self.stop = stop
        self._external_stop = external_stop
        self._last_progress_write = 0.0

    @property
    def resources(self) -> Resources:
        """The worker's long-lived models, loaded once per process."""
        return self.runtime.resources

    def session(self) -> Session:
        """A new database session (use as a context manager)."""
        return self.runtime.sessions()

    def report_progress(self, fraction: float, message: str | None = None) -> None:
        """Record progress in 0..1 with a short message for the UI (rate-limited to a write
        every 0.2 s; the final value is always written)."""
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_progress_write < PROGRESS_WRITE_INTERVAL_S:
            return
        self._last_progress_write = now
        with self.session() as session:
            if not job_table.report_progress(session, self.lease, fraction, message):
                self.stop.set(StopReason.LOST)

    def is_cancelled(self) -> bool:
        """True once the job should stop: cancelled, out of time, worker shutting down."""
        if not self.stop.is_set():
            reason = self._external_stop()
            if reason is not None:
                self.stop.set(reason)
        return self.stop.is_set()

    def shutting_down(self) -> bool:
        """True as soon as the worker is asked to stop, before its grace period ends: a job that
        can stop sooner at a safe point calls `stop_for_shutdown` there."""
        return self.runtime.stopping.is_set()

    def stop_for_shutdown(self) -> None:
        """Stop now because the worker is shutting down: the job is re-queued, its attempt not
        counted (raises JobCancelled)."""
        self.stop.set(StopReason.SHUTDOWN)
        self.raise_if_cancelled()

    def raise_if_cancelled(self) -> None:
        """Raise JobCancelled once the job should stop."""
        if self.is_cancelled():
            raise JobCancelled(self.stop.reason.value if self.stop.reason else "stopped")
