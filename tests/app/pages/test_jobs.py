"""The job page: a self-polling htmx panel for each state, and its Cancel button."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from db import jobs as job_table
from db.workers import register_worker
from tests.support.csrf import csrf_headers
from workers.queue.submit import submit_job

POLLING = 'hx-trigger="load delay:500ms"'


def test_queued_job_page_polls_shows_its_position_and_links_its_json(
    client: TestClient, session: Session
) -> None:
    register_worker(session, "test-host:1", concurrency=1, stale_after_s=60)
    submit_job(session, "test.steps")
    job = submit_job(session, "test.steps")
    response = client.get(f"/jobs/{job.id}")
    assert response.status_code == 200
    html = response.text
    assert "Waiting" in html and "Position 2 in the queue" in html
    assert POLLING in html and f'hx-get="/jobs/{job.id}/panel"' in html
    assert 'hx-swap="outerHTML"' in html
    assert f'hx-delete="/jobs/{job.id}"' in html
    assert f"/api/v1/jobs/{job.id}" in response.headers["link"]


def test_panel_fragment_follows_the_job_until_it_ends_then_stops_polling(
    client: TestClient, session: Session
) -> None:
    job = submit_job(session, "test.steps")
    lease = job_table.lease_of(job_table.claim_job(session, job.id, "host:1"))
    job_table.report_progress(session, lease, 0.25, "step 1 of 4")
    running = client.get(f"/jobs/{job.id}/panel").text
    assert running.lstrip().startswith('<section id="job-panel"')
    assert "<html" not in running
    assert "Running" in running and 'value="0.25"' in running and "step 1 of 4" in running
    assert POLLING in running
    job_table.finish_job(session, lease, "succeeded", result={"report": "No acute findings."})
    done = client.get(f"/jobs/{job.id}/panel").text
    assert "Done" in done and "No acute findings." in done
    assert POLLING not in done and "hx-delete" not in done


def test_failed_job_page_explains_in_plain_words(client: TestClient, session: Session) -> None:
    job = submit_job(session, "test.steps")
    lease = job_table.lease_of(job_table.claim_job(session, job.id, "host:1"))
    job_table.finish_job(
        session,
        lease,
        "failed",
        error="took longer than 600 s (its time limit) and was stopped",
        error_kind="timeout",
    )
    html = client.get(f"/jobs/{job.id}").text
    assert "Failed" in html
    assert "Took longer than 600 s (its time limit) and was stopped." in html
    assert POLLING not in html


def test_cancel_button_cancels_and_returns_the_final_panel(
    client: TestClient, session: Session
) -> None:
    job = submit_job(session, "test.steps")
    headers = csrf_headers(client)
    response = client.delete(f"/jobs/{job.id}", headers=headers)
    assert response.status_code == 200
    assert "Cancelled" in response.text and POLLING not in response.text
    assert client.delete(f"/jobs/{job.id}", headers=headers).status_code == 200


def test_unknown_job_page_is_a_404_page(client: TestClient) -> None:
    response = client.get("/jobs/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
