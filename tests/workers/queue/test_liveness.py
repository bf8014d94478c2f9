"""Real workers report liveness; a job whose worker died says so, and goes back to the front."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from app.services.jobs import find_job
from db.models import FINISHED_JOB_STATUSES, Job
from db.workers import count_live_workers, live_workers
from tests.support.workers import STALE_AFTER_S, WorkerProcess
from workers.queue.reaper import reap
from workers.queue.submit import submit_job


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def names(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return {worker.name for worker in live_workers(session)}


def test_a_worker_is_alive_while_it_serves_and_gone_when_it_stops(
    start_worker: Callable[..., WorkerProcess], sessions: sessionmaker[Session]
) -> None:
    stopped, killed = start_worker(), start_worker()
    assert names(sessions) >= {stopped.name, killed.name}
    assert stopped.stop(signal.SIGTERM) == 0
    assert stopped.name not in names(sessions)
    killed.stop(signal.SIGKILL)
    assert killed.name in names(sessions)
    wait_until(lambda: killed.name not in names(sessions), timeout=STALE_AFTER_S + 3)
    with sessions() as session:
        assert count_live_workers(session) == 0


def test_a_lost_job_says_so_then_runs_again_ahead_of_the_jobs_queued_behind_it(
    start_worker: Callable[..., WorkerProcess],
    sessions: sessionmaker[Session],
    queue_url: str,
    wait_for: Callable[..., Job],
) -> None:
    first = start_worker(concurrency=1)
    lost = submit_job(queue_url, "test.steps", {"steps": 200, "delay": 0.05})
    wait_for(lost.id, lambda j: j.status == "running" and j.progress > 0)
    behind = [submit_job(queue_url, "test.steps", {"steps": 1, "delay": 0}) for _ in range(2)]
    first.stop(signal.SIGKILL)

    def state(job_id: object) -> object:
        with sessions() as session:
            return find_job(session, str(job_id))

    # The job's own heartbeat can go quiet a beat before its worker's row does: wait for both.
    wait_until(
        lambda: (shown := state(lost.id)).problem == "worker_lost" and shown.workers_alive == 0,
        timeout=STALE_AFTER_S + 3,
    )
    shown = state(lost.id)
    assert shown.status == "running" and shown.workers_alive == 0
    assert "(attempt 2 of 3) once a model worker is running" in shown.notice
    assert state(behind[0].id).problem == "no_worker"

    # What the reaper of the next worker to start does first.
    assert str(lost.id) in reap(sessions, STALE_AFTER_S).requeued
    assert [state(job.id).queue_position for job in (lost, *behind)] == [0, 1, 2]
    assert "back at the front of the queue; attempt 2 of 3" in state(lost.id).notice

    second = start_worker(concurrency=1)
    done = [
        wait_for(job.id, lambda j: j.status in FINISHED_JOB_STATUSES, timeout=30)
        for job in (lost, *behind)
    ]
    assert [job.status for job in done] == ["succeeded"] * 3
    assert done[0].worker == second.name and done[0].attempts == 2
    assert done[0].started_at < done[1].started_at < done[2].started_at
