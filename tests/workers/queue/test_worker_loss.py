"""Workers that die or are stopped: no job is left stuck (the reaper's bound, graceful stop)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from db.models import FINISHED_JOB_STATUSES, Job
from tests.support.workers import HEARTBEAT_S, STALE_AFTER_S, WorkerProcess
from workers.queue.reaper import WORKER_LOST
from workers.queue.submit import cancel_job, submit_job

# Documented bound: re-queued at most stale_after + one heartbeat interval after the last
# heartbeat; the slack covers process start-up noise on a loaded 2-core machine.
BOUND_S = STALE_AFTER_S + HEARTBEAT_S
SLACK_S = 1.0


def is_finished(job: Job) -> bool:
    return job.status in FINISHED_JOB_STATUSES


def running_on(workers: list[WorkerProcess], job: Job) -> WorkerProcess:
    (worker,) = [worker for worker in workers if worker.name == job.worker]
    return worker


def test_a_killed_workers_job_is_requeued_within_the_bound_and_finished_by_another(
    start_worker: Callable[..., WorkerProcess], queue_url: str, wait_for: Callable[..., Job]
) -> None:
    workers = [start_worker(), start_worker()]
    job = submit_job(queue_url, "test.steps", {"steps": 20, "delay": 0.1})
    running = wait_for(job.id, lambda j: j.status == "running" and j.progress > 0)
    victim = running_on(workers, running)
    victim.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    taken_over = wait_for(job.id, lambda j: j.worker != victim.name, timeout=BOUND_S + 5)
    assert time.monotonic() - killed_at <= BOUND_S + SLACK_S
    assert taken_over.status in ("queued", "running", "succeeded")
    (survivor,) = [worker for worker in workers if worker is not victim]
    done = wait_for(job.id, is_finished, timeout=10)
    assert (done.status, done.attempts, done.worker) == ("succeeded", 2, survivor.name)
    assert done.result["attempt"] == 2


def test_a_killed_workers_job_on_its_last_attempt_fails_with_the_reason(
    start_worker: Callable[..., WorkerProcess], queue_url: str, wait_for: Callable[..., Job]
) -> None:
    workers = [start_worker(), start_worker()]
    job = submit_job(queue_url, "test.steps", {"steps": 100, "delay": 0.1}, max_attempts=1)
    running = wait_for(job.id, lambda j: j.status == "running" and j.progress > 0)
    running_on(workers, running).stop(signal.SIGKILL)
    killed_at = time.monotonic()
    failed = wait_for(job.id, is_finished, timeout=BOUND_S + 5)
    assert time.monotonic() - killed_at <= BOUND_S + SLACK_S
    assert (failed.status, failed.error, failed.error_kind) == (
        "failed",
        WORKER_LOST,
        "worker_lost",
    )
    assert failed.attempts == 1


def test_sigterm_lets_a_short_job_finish_and_exits_cleanly(
    start_worker: Callable[..., WorkerProcess], queue_url: str, wait_for: Callable[..., Job]
) -> None:
    worker = start_worker(worker_shutdown_grace_s="5")
    job = submit_job(queue_url, "test.steps", {"steps": 10, "delay": 0.1})
    running = wait_for(job.id, lambda j: j.status == "running" and j.progress > 0)
    assert running.worker == worker.name
    assert worker.stop(signal.SIGTERM) == 0
    done = wait_for(job.id, is_finished)
    assert (done.status, done.attempts, done.worker) == ("succeeded", 1, worker.name)


def test_sigterm_requeues_a_long_job_without_counting_the_attempt(
    start_worker: Callable[..., WorkerProcess], queue_url: str, wait_for: Callable[..., Job]
) -> None:
    leaving = start_worker()
    job = submit_job(queue_url, "test.steps", {"steps": 400, "delay": 0.05}, max_attempts=1)
    wait_for(job.id, lambda j: j.status == "running" and j.worker == leaving.name)
    staying = start_worker()
    asked = time.monotonic()
    assert leaving.stop(signal.SIGTERM) == 0
    assert time.monotonic() - asked < 1 + 1.5  # the 1 s grace, then the job stops at once
    taken_over = wait_for(job.id, lambda j: j.status == "running" and j.worker == staying.name)
    assert taken_over.attempts == 1
    cancel_job(queue_url, job.id)
    assert wait_for(job.id, is_finished).status == "cancelled"
