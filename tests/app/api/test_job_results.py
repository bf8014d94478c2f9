"""Job results in the API: typed kinds validated on the way out, untyped ones passed through."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from db import jobs as job_table
from workers.queue.submit import submit_job


def finished(session: Session, kind: str, result: dict) -> str:
    job = submit_job(session, kind, {})
    lease = job_table.lease_of(job_table.claim_job(session, job.id, "host:1"))
    job_table.finish_job(session, lease, "succeeded", result=result)
    return str(job.id)


def test_a_stored_result_that_no_longer_fits_its_kind_is_withheld_with_a_notice(
    client: TestClient, session: Session
) -> None:
    job_id = finished(session, "encode", {"report": "From an older version."})
    body = client.get(f"/api/v1/jobs/{job_id}").json()
    assert (body["kind"], body["status"], body["result"]) == ("encode", "succeeded", None)
    assert "older format" in body["notice"]
    page = client.get(f"/encode/{job_id}")
    assert page.status_code == 200 and "older format" in page.text


def test_the_untyped_schema_excludes_the_typed_kinds_so_one_schema_matches(
    client: TestClient, session: Session
) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    kind = schemas["OtherJobOut"]["properties"]["kind"]
    assert kind["type"] == "string" and set(kind["not"]["enum"]) >= {"encode", "steer"}
    other = client.get(f"/api/v1/jobs/{finished(session, 'test.steps', {'n': 1})}").json()
    assert (other["kind"], other["result"], other["feature_labels"]) == ("test.steps", {"n": 1}, {})
