"""A real `maira-sae worker` process serving jobs: progress, cancel, errors, limits, load."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from db.models import FINISHED_JOB_STATUSES, Job
from tests.support.workers import WorkerProcess, WorkerStarter
from workers.queue.submit import cancel_job, submit_job


def is_finished(job: Job) -> bool:
    return job.status in FINISHED_JOB_STATUSES


@pytest.fixture(scope="module")
def worker(module_workers: WorkerStarter) -> WorkerProcess:
    """One worker running two jobs at a time, shared by this module's tests."""
    return module_workers.start(concurrency=2)


def procrastinate_status(sessions: sessionmaker[Session], job: Job) -> str:
    with sessions() as session:
        return session.scalar(
            text("SELECT status FROM procrastinate_jobs WHERE id = :id"),
            {"id": job.procrastinate_job_id},
        )


def test_job_succeeds_with_progress_visible_while_it_runs(
    worker: WorkerProcess, queue_url: str, wait_for: Callable[..., Job]
) -> None:
    job = submit_job(queue_url, "test.steps", {"steps": 6, "delay": 0.25, "echo": "hello"})
    midway = wait_for(job.id, lambda j: j.status == "running" and 0 < j.progress < 1)
    assert midway.progress_message.startswith("step ")
    assert midway.worker is not None and midway.heartbeat_at is not None
    done = wait_for(job.id, is_finished)
    assert done.status == "succeeded"
    assert done.result == {"steps": 6, "attempt": 1, "echo": "hello"}
    assert done.progress == 1.0
    assert done.started_at <= done.finished_at


def test_cancelling_a_queued_job_means_it_never_runs(
    worker: WorkerProcess,
    queue_url: str,
    sessions: sessionmaker[Session],
    wait_for: Callable[..., Job],
) -> None:
    blockers = [submit_job(queue_url, "test.steps", {"steps": 10, "delay": 0.1}) for _ in range(2)]
    for blocker in blockers:
        wait_for(blocker.id, lambda j: j.status == "running")
    waiting = submit_job(queue_url, "test.steps", {"steps": 1, "delay": 0})
    cancelled = cancel_job(queue_url, waiting.id)
    assert cancelled.status == "cancelled"
    assert procrastinate_status(sessions, waiting) == "cancelled"
    for blocker in blockers:
        assert wait_for(blocker.id, is_finished).status == "succeeded"
    time.sleep(0.3)
    final = wait_for(waiting.id, is_finished)
    assert (final.status, final.attempts, final.started_at) == ("cancelled", 0, None)


def test_cancelling_a_running_job_stops_it_within_a_second_and_it_stays_cancelled(
    worker: WorkerProcess,
    queue_url: str,
    sessions: sessionmaker[Session],
    wait_for: Callable[..., Job],
) -> None:
    job = submit_job(queue_url, "test.steps", {"steps": 200, "delay": 0.05})
    wait_for(job.id, lambda j: j.progress > 0)
    asked = time.monotonic()
    assert cancel_job(queue_url, job.id).cancel_requested
    stopped = wait_for(job.id, is_finished, timeout=5)
    assert time.monotonic() - asked < 1.5
    assert stopped.status == "cancelled" and stopped.progress < 1
    time.sleep(1.0)
    again = wait_for(job.id, is_finished)
    assert (again.status, again.attempts) == ("cancelled", 1)
    assert procrastinate_status(sessions, job) == "aborted"


def test_user_error_fails_with_its_message_and_is_not_retried(
    worker: WorkerProcess, queue_url: str, wait_for: Callable[..., Job]
) -> None:
    job = submit_job(queue_url, "test.invalid", {"message": "this file is not a chest X-ray"})
    failed = wait_for(job.id, is_finished)
    assert (failed.status, failed.error, failed.error_kind) == (
        "failed",
        "this file is not a chest X-ray",
        "invalid_input",
    )
    time.sleep(1.0)
    assert wait_for(job.id, is_finished).attempts == 1


def test_a_crashing_handler_fails_with_an_internal_error(
    worker: WorkerProcess, queue_url: str, wait_for: Callable[..., Job]
) -> None:
    failed = wait_for(submit_job(queue_url, "test.crash").id, is_finished)
    assert failed.status == "failed" and failed.error_kind == "internal"
    assert "ZeroDivisionError" in failed.error and failed.attempts == 1


def test_a_typed_kind_checks_its_params_and_what_its_handler_returns(
    worker: WorkerProcess, queue_url: str, wait_for: Callable[..., Job]
) -> None:
    done = wait_for(submit_job(queue_url, "test.echo", {"text": "effusion"}).id, is_finished)
    assert (done.status, done.result) == ("succeeded", {"text": "effusion", "length": 8})

    broken = submit_job(queue_url, "test.echo", {"text": "x", "break_result": True})
    failed = wait_for(broken.id, is_finished)
    assert (failed.status, failed.error_kind, failed.attempts) == ("failed", "internal", 1)
    assert failed.error == (
        "the test.echo handler returned a result that does not match EchoResult (version 1): "
        "length: Field required"
    )
    assert failed.result is None

    wrong = wait_for(submit_job(queue_url, "test.echo", {"words": 3}).id, is_finished)
    assert (wrong.status, wrong.error_kind) == ("failed", "invalid_input")
    assert "parameters do not fit test.echo version 1" in wrong.error


def test_unknown_kind_fails_and_says_so(
    worker: WorkerProcess, queue_url: str, wait_for: Callable[..., Job]
) -> None:
    failed = wait_for(submit_job(queue_url, "no-such-kind").id, is_finished)
    assert failed.status == "failed" and "no-such-kind" in failed.error


@pytest.mark.parametrize(
    ("kind", "params"),
    [("test.steps", {"steps": 100, "delay": 0.05}), ("test.block", {"seconds": 2.5})],
    ids=["cooperative", "blocking"],
)
def test_a_job_over_its_time_limit_fails_with_the_reason_at_the_deadline(
    worker: WorkerProcess, queue_url: str, wait_for: Callable[..., Job], kind: str, params: dict
) -> None:
    job = submit_job(queue_url, kind, params, timeout_s=0.8)
    failed = wait_for(job.id, is_finished, timeout=5)
    assert (failed.status, failed.error_kind) == ("failed", "timeout")
    assert failed.error == "took longer than 0.8 s (its time limit) and was stopped"
    assert 0.8 <= (failed.finished_at - failed.started_at).total_seconds() < 0.8 + 0.3 + 0.5
    time.sleep(0.5 if kind == "test.steps" else 2.0)
    after = wait_for(job.id, is_finished)
    assert (after.status, after.attempts, after.result) == ("failed", 1, None)


def test_a_database_connection_drop_is_retried(
    worker: WorkerProcess, queue_url: str, wait_for: Callable[..., Job]
) -> None:
    done = wait_for(submit_job(queue_url, "test.db_blip").id, is_finished, timeout=15)
    assert done.status == "succeeded"
    assert done.result == {"attempt": 2, "value": 42}


def test_twenty_jobs_from_five_concurrent_clients_all_finish_once(
    start_worker: Callable[..., WorkerProcess],
    worker: WorkerProcess,
    queue_url: str,
    sessions: sessionmaker[Session],
    wait_for: Callable[..., Job],
) -> None:
    start_worker(concurrency=2)
    job_ids: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        for index in range(4):
            params = {"steps": 3, "delay": 0.05, "echo": f"{number}-{index}"}
            job = submit_job(queue_url, "test.steps", params)
            with lock:
                job_ids.append(str(job.id))

    clients = [threading.Thread(target=client, args=(number,)) for number in range(5)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    assert len(set(job_ids)) == 20
    results = [wait_for(job_id, is_finished, timeout=30) for job_id in job_ids]
    assert {job.status for job in results} == {"succeeded"}
    assert {job.attempts for job in results} == {1}
    assert sorted(job.result["echo"] for job in results) == sorted(
        f"{n}-{i}" for n in range(5) for i in range(4)
    )
    assert len({job.worker for job in results}) == 2


def test_worker_rides_out_the_database_dropping_all_its_connections(
    worker: WorkerProcess,
    queue_url: str,
    sessions: sessionmaker[Session],
    wait_for: Callable[..., Job],
) -> None:
    job = submit_job(queue_url, "test.steps", {"steps": 20, "delay": 0.1})
    wait_for(job.id, lambda j: j.status == "running" and j.progress > 0)
    with sessions() as session:
        dropped = session.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert dropped >= 3  # the job's, the worker's pool's and its LISTEN connection
    done = wait_for(job.id, is_finished, timeout=20)
    assert done.status == "succeeded" and done.attempts <= 2
    after = wait_for(submit_job(queue_url, "test.steps", {"steps": 1}).id, is_finished)
    assert after.status == "succeeded"
    assert worker.process.poll() is None
