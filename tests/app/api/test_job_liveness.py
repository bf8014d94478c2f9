"""What a job says when no worker can run it or its worker was lost (API and page)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from db import jobs as job_table
from db.workers import register_worker, unregister_worker
from workers.queue.submit import submit_job

NO_WORKER = (
    "No model worker is running, so this job cannot start. "
    "An administrator must start one: maira-sae worker."
)


def lose_worker(session: Session, worker: str, seconds_ago: int = 60) -> None:
    """The worker's own row and its jobs' heartbeats stop `seconds_ago`."""
    session.execute(
        text("UPDATE workers SET heartbeat_at = now() - make_interval(secs => :s) WHERE name = :w"),
        {"s": seconds_ago, "w": worker},
    )
    session.execute(
        text("UPDATE jobs SET heartbeat_at = now() - make_interval(secs => :s) WHERE worker = :w"),
        {"s": seconds_ago, "w": worker},
    )
    session.commit()


def test_a_queued_job_without_any_worker_says_so(client: TestClient, session: Session) -> None:
    job = submit_job(session, "test.steps")
    body = client.get(f"/api/v1/jobs/{job.id}").json()
    assert (body["workers_alive"], body["problem"], body["notice"]) == (0, "no_worker", NO_WORKER)
    page = client.get(f"/jobs/{job.id}").text
    assert "Cannot start: no model worker is running" in page and NO_WORKER in page
    assert "Position 1 in the queue" not in page

    register_worker(session, "host:7", concurrency=1, stale_after_s=30)
    body = client.get(f"/api/v1/jobs/{job.id}").json()
    assert (body["workers_alive"], body["problem"], body["notice"]) == (1, None, None)
    assert "Position 1 in the queue" in client.get(f"/jobs/{job.id}").text

    lose_worker(session, "host:7", seconds_ago=31)
    assert client.get(f"/api/v1/jobs/{job.id}").json()["problem"] == "no_worker"
    unregister_worker(session, "host:7")
    assert client.get(f"/api/v1/jobs/{job.id}").json()["workers_alive"] == 0


def test_a_running_job_whose_worker_stopped_says_what_happens_next(
    client: TestClient, session: Session
) -> None:
    register_worker(session, "gone:1", concurrency=1, stale_after_s=5)
    job = submit_job(session, "test.steps")
    lease = job_table.lease_of(job_table.claim_job(session, job.id, "gone:1"))
    job_table.report_progress(session, lease, 0.05, "Loading the model")
    assert client.get(f"/api/v1/jobs/{job.id}").json()["problem"] is None

    lose_worker(session, "gone:1")
    body = client.get(f"/api/v1/jobs/{job.id}").json()
    assert (body["status"], body["problem"], body["workers_alive"]) == (
        "running",
        "worker_lost",
        0,
    )
    assert "stopped responding 60 s ago" in body["notice"]
    assert (
        "put back at the front of the queue (attempt 2 of 3) once a model worker"
        in (body["notice"])
    )
    assert "maira-sae worker" in body["notice"]
    page = client.get(f"/jobs/{job.id}").text
    assert "Worker lost" in page and ">Running<" not in page
    assert "attempt 2 of 3" in page

    register_worker(session, "alive:2", concurrency=1, stale_after_s=30)
    body = client.get(f"/api/v1/jobs/{job.id}").json()
    assert "(attempt 2 of 3) within seconds" in body["notice"]


def test_a_lost_job_on_its_last_attempt_says_it_will_fail(
    client: TestClient, session: Session
) -> None:
    job = submit_job(session, "test.steps", max_attempts=1)
    job_table.claim_job(session, job.id, "never-registered:1")
    lose_worker(session, "never-registered:1")
    body = client.get(f"/api/v1/jobs/{job.id}").json()
    assert body["problem"] == "worker_lost"
    assert "marked as failed, since this was its last attempt" in body["notice"]
