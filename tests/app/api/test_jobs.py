"""GET and DELETE /api/v1/jobs/{id}: status, queue position, progress, result, cancel."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from db import jobs as job_table
from db.models import Job
from workers.queue.submit import submit_job


def start(session: Session, job: Job, worker: str = "test-host:1") -> job_table.Lease:
    """Claim the job as a worker would."""
    claimed = job_table.claim_job(session, job.id, worker)
    assert claimed is not None
    return job_table.lease_of(claimed)


def test_unknown_or_malformed_job_is_a_json_404(client: TestClient) -> None:
    for job_id in (uuid.uuid4(), "not-a-uuid"):
        response = client.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 404
        assert "no job" in response.json()["detail"]
    assert client.delete(f"/api/v1/jobs/{uuid.uuid4()}").status_code == 404


def test_queued_jobs_report_their_place_in_the_queue(client: TestClient, session: Session) -> None:
    first = submit_job(session, "test.steps")
    second = submit_job(session, "test.steps")
    urgent = submit_job(session, "test.steps", priority=5)
    positions = {
        job.id: client.get(f"/api/v1/jobs/{job.id}").json()["queue_position"]
        for job in (urgent, first, second)
    }
    assert positions == {urgent.id: 0, first.id: 1, second.id: 2}
    body = client.get(f"/api/v1/jobs/{first.id}").json()
    assert body["status"] == "queued" and body["finished"] is False
    assert body["progress"] == 0 and body["ran_for_s"] is None and body["queued_for_s"] >= 0


def test_running_job_shows_progress_then_its_result(client: TestClient, session: Session) -> None:
    job = submit_job(session, "test.steps", {"steps": 2})
    lease = start(session, job)
    assert job_table.report_progress(session, lease, 0.5, "step 1 of 2")
    running = client.get(f"/api/v1/jobs/{job.id}").json()
    assert (running["status"], running["progress"], running["progress_message"]) == (
        "running",
        0.5,
        "step 1 of 2",
    )
    assert running["queue_position"] is None and running["ran_for_s"] >= 0
    assert job_table.finish_job(session, lease, "succeeded", result={"answer": 42})
    done = client.get(f"/api/v1/jobs/{job.id}").json()
    assert (done["status"], done["progress"], done["result"]) == ("succeeded", 1.0, {"answer": 42})
    assert done["finished"] is True and done["error"] is None


def test_failed_job_gives_the_reason(client: TestClient, session: Session) -> None:
    job = submit_job(session, "test.invalid")
    lease = start(session, job)
    job_table.finish_job(
        session, lease, "failed", error="the image is not a chest X-ray", error_kind="invalid_input"
    )
    body = client.get(f"/api/v1/jobs/{job.id}").json()
    assert (body["status"], body["error"], body["error_kind"]) == (
        "failed",
        "the image is not a chest X-ray",
        "invalid_input",
    )


def test_delete_cancels_a_queued_job_and_its_queue_entry(
    client: TestClient, session: Session
) -> None:
    job = submit_job(session, "test.steps")
    response = client.delete(f"/api/v1/jobs/{job.id}")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    entry = session.scalar(
        text("SELECT status FROM procrastinate_jobs WHERE id = :id"),
        {"id": job.procrastinate_job_id},
    )
    assert entry == "cancelled"
    again = client.delete(f"/api/v1/jobs/{job.id}")
    assert again.status_code == 409
    assert "already cancelled" in again.json()["detail"]


def test_delete_asks_a_running_job_to_stop(client: TestClient, session: Session) -> None:
    job = submit_job(session, "test.steps")
    lease = start(session, job)
    body = client.delete(f"/api/v1/jobs/{job.id}").json()
    assert (body["status"], body["cancel_requested"]) == ("running", True)
    assert job_table.heartbeat(session, lease) is True
    job_table.finish_job(session, lease, "cancelled")
    assert client.delete(f"/api/v1/jobs/{job.id}").status_code == 409
