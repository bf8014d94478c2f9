"""Encode and steer jobs end to end: the API in-process, a real `maira-sae worker --model tiny`
process, the tiny model and a small random SAE."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Job
from tests.live.conftest import D_SAE, LABELLED, SAE_SLUG
from tests.live.images import xray_png
from tests.workers.queue.conftest import WorkerProcess

MAX_NEW_TOKENS = 6


def upload_id(client: TestClient, seed: int) -> str:
    response = client.post(
        "/api/v1/uploads", files={"image": ("x.png", xray_png(seed), "image/png")}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def steer(client: TestClient, frontal: str, features: list[dict], **fields: object) -> dict:
    body = {
        "frontal": frontal,
        "sae": SAE_SLUG,
        "features": features,
        "max_new_tokens": MAX_NEW_TOKENS,
        **fields,
    }
    response = client.post("/api/v1/steer", json=body)
    assert response.status_code in (200, 202), response.text
    return {"status_code": response.status_code, **response.json()}


def job_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Job))


def test_encode_job_lists_features_per_token_and_consistent_totals(
    live_worker: WorkerProcess, live_client: TestClient, wait_job: Callable[..., Job]
) -> None:
    files = {"frontal": ("frontal.png", xray_png(seed=11), "image/png")}
    data = {
        "sae": SAE_SLUG,
        "max_new_tokens": str(MAX_NEW_TOKENS),
        "top_features": str(D_SAE),
        "indication": "Shortness of breath.",
    }
    response = live_client.post("/api/v1/encode", data=data, files=files)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["url"] == f"/encode/{accepted['id']}"
    assert accepted["api_url"] == f"/api/v1/jobs/{accepted['id']}"
    job = wait_job(accepted["id"])
    assert job.status == "succeeded", (job.error, live_worker.log())
    body = live_client.get(accepted["api_url"]).json()
    result = body["result"]
    tokens = result["tokens"]
    assert tokens and "".join(token["text"] for token in tokens).strip() == result["report"]
    assert all(token["text"] for token in tokens) and result["max_new_tokens"] == MAX_NEW_TOKENS
    assert any(token["features"] for token in tokens)
    per_feature: dict[int, list[float]] = {}
    for token in tokens:
        values = [feature["value"] for feature in token["features"]]
        assert values == sorted(values, reverse=True) and all(value > 0 for value in values)
        for feature in token["features"]:
            assert 0 <= feature["index"] < D_SAE and "label" not in feature
            assert body["feature_labels"].get(str(feature["index"])) == (
                f"tiny feature {feature['index']}" if feature["index"] < LABELLED else None
            )
            per_feature.setdefault(feature["index"], []).append(feature["value"])
    totals = {total["index"]: total for total in result["totals"]}
    assert set(totals) == set(per_feature)
    for index, values in per_feature.items():
        assert totals[index]["count"] == len(values)
        assert totals[index]["sum"] == pytest.approx(sum(values), rel=1e-3)
        assert totals[index]["max"] == pytest.approx(max(values), rel=1e-3)
    sums = [total["sum"] for total in result["totals"]]
    assert sums == sorted(sums, reverse=True)
    assert result["n_active_features"] == len(totals)
    assert {token["field"] for token in result["prompt_tokens"]} == {"indication"}

    page = live_client.get(accepted["url"])
    assert page.status_code == 200
    assert 'class="tok live-tok"' in page.text
    assert f'href="/saes/{SAE_SLUG}/features/' in page.text
    assert "Features over the whole report" in page.text


def test_steering_with_alpha_zero_reproduces_the_baseline(
    live_worker: WorkerProcess, live_client: TestClient, wait_job: Callable[..., Job]
) -> None:
    frontal = upload_id(live_client, seed=21)
    accepted = steer(live_client, frontal, [{"index": 3, "alpha": 0}], indication="Alpha zero.")
    assert accepted["status_code"] == 202 and accepted["url"] == f"/steer/{accepted['id']}"
    job = wait_job(accepted["id"])
    assert job.status == "succeeded", job.error
    assert job.result["baseline_cached"] is False
    (run,) = job.result["runs"]
    assert job.result["baseline"] == run["steered"] and run["identical"]
    assert {segment["op"] for segment in run["diff"]} <= {"equal"}
    assert job.result["features"] == [{"index": 3, "alphas": [0.0]}]
    assert run["alphas"] == [0.0] and run["on_target"] == run["off_target"] == []
    shown = live_client.get(accepted["api_url"]).json()
    assert shown["kind"] == "steer" and shown["feature_labels"] == {"3": "tiny feature 3"}


def test_identical_request_reuses_the_job_and_new_features_reuse_the_baseline(
    live_worker: WorkerProcess,
    live_client: TestClient,
    wait_job: Callable[..., Job],
    live_sessions: sessionmaker[Session],
) -> None:
    frontal = upload_id(live_client, seed=31)
    features = [{"index": 5, "alpha": 40.0}, {"index": 2, "alpha": -25.0}]
    first = steer(live_client, frontal, features, indication="Cache test.")
    done = wait_job(first["id"])
    assert done.status == "succeeded", done.error
    assert done.result["baseline_cached"] is False

    jobs_before = job_count(live_sessions)
    again_upload = upload_id(live_client, seed=31)
    again = steer(live_client, again_upload, list(reversed(features)), indication="Cache test.")
    assert (again["status_code"], again["id"], again["cached"]) == (200, first["id"], True)
    assert again["status"] == "succeeded"
    assert job_count(live_sessions) == jobs_before
    assert wait_job(first["id"]).attempts == 1

    other = steer(live_client, frontal, [{"index": 7, "alpha": 60.0}], indication="Cache test.")
    assert other["status_code"] == 202 and other["id"] != first["id"]
    reused = wait_job(other["id"])
    assert reused.status == "succeeded", reused.error
    assert reused.result["baseline_cached"] is True
    assert reused.result["baseline"] == done.result["baseline"]

    page = live_client.get(f"/steer/{first['id']}")
    assert page.status_code == 200
    assert "Baseline report" in page.text and "Steered report" in page.text
    assert "Findings (CheXpert observations)" in page.text


def test_steer_requests_are_checked_before_queueing(
    live_client: TestClient, live_sessions: sessionmaker[Session]
) -> None:
    frontal = upload_id(live_client, seed=41)
    before = job_count(live_sessions)
    cases = [
        ({"features": [{"index": D_SAE, "alpha": 10}]}, 422, f"there is no feature {D_SAE}"),
        ({"sae": "no-such-sae"}, 422, "There is no SAE named 'no-such-sae'."),
        ({"max_new_tokens": 301}, 422, "less than or equal to 300"),
        ({"frontal": "00000000-0000-4000-8000-000000000000"}, 422, "has expired or was deleted"),
    ]
    for change, status, words in cases:
        body = {
            "frontal": frontal,
            "sae": SAE_SLUG,
            "features": [{"index": 1, "alpha": 10}],
            **change,
        }
        response = live_client.post("/api/v1/steer", json=body)
        assert response.status_code == status, response.text
        assert words in str(response.json()["detail"])
    assert job_count(live_sessions) == before


def test_twenty_encode_and_steer_jobs_from_five_clients_all_finish(
    live_worker: WorkerProcess, live_client: TestClient, wait_job: Callable[..., Job]
) -> None:
    frontals = [upload_id(live_client, seed=100 + number) for number in range(5)]
    accepted: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        for round_ in range(4):
            if round_ % 2 == 0:
                response = live_client.post(
                    "/api/v1/encode",
                    json={
                        "frontal": frontals[number],
                        "sae": SAE_SLUG,
                        "max_new_tokens": 4,
                        "indication": f"client {number} round {round_}",
                    },
                )
            else:
                response = live_client.post(
                    "/api/v1/steer",
                    json={
                        "frontal": frontals[number],
                        "sae": SAE_SLUG,
                        "features": [{"index": round_, "alpha": 10.0 * (number + 1)}],
                        "max_new_tokens": 4,
                    },
                )
            with lock:
                if response.status_code == 202:
                    accepted.append(response.json()["id"])
                else:
                    errors.append(response.text)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(accepted)) == 20
    finished = [wait_job(job_id, timeout=180) for job_id in accepted]
    assert [job.status for job in finished] == ["succeeded"] * 20
    assert all(job.attempts == 1 for job in finished)
