"""Encode and steer results as shown: current labels joined at read time, the study's images,
only real report tokens, typed JSON in OpenAPI; forms that keep their upload after an error."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from db.models import Job
from tests.live.conftest import SAE_SLUG
from tests.live.images import xray_png
from tests.support.csrf import form_token
from tests.workers.queue.conftest import WorkerProcess

MAX_NEW_TOKENS = 6


def set_label(sessions: sessionmaker[Session], index: int, label: str | None) -> None:
    with sessions() as session:
        session.execute(
            text(
                "UPDATE features SET label = :label WHERE index = :index "
                "AND sae_id = (SELECT id FROM saes WHERE slug = :slug)"
            ),
            {"label": label, "index": index, "slug": SAE_SLUG},
        )
        session.commit()


def run_encode(client: TestClient, wait_job: Callable[..., Job], seed: int) -> tuple[dict, str]:
    files = {"frontal": ("frontal.png", xray_png(seed=seed), "image/png")}
    data = {"sae": SAE_SLUG, "max_new_tokens": str(MAX_NEW_TOKENS), "indication": "Cough."}
    accepted = client.post("/api/v1/encode", data=data, files=files).json()
    job = wait_job(accepted["id"])
    assert job.status == "succeeded", job.error
    return accepted, job.params["study"]["frontal"]["id"]


def test_a_result_shows_the_labels_features_have_now(
    live_worker: WorkerProcess,
    live_client: TestClient,
    wait_job: Callable[..., Job],
    live_sessions: sessionmaker[Session],
) -> None:
    accepted, _ = run_encode(live_client, wait_job, seed=501)
    body = live_client.get(accepted["api_url"]).json()
    index = body["result"]["totals"][0]["index"]
    before = body["feature_labels"][str(index)]
    try:
        set_label(live_sessions, index, f"relabelled feature {index}")
        after = live_client.get(accepted["api_url"]).json()
        assert after["feature_labels"][str(index)] == f"relabelled feature {index}"
        assert after["result"] == body["result"]
        page = live_client.get(accepted["url"]).text
        assert f"relabelled feature {index}" in page
        if before:
            assert before not in page
    finally:
        set_label(live_sessions, index, before)


def test_a_result_shows_the_studys_image_served_from_its_upload(
    live_worker: WorkerProcess, live_client: TestClient, wait_job: Callable[..., Job]
) -> None:
    accepted, frontal = run_encode(live_client, wait_job, seed=502)
    body = live_client.get(accepted["api_url"]).json()
    assert body["images"] == [{"role": "frontal", "upload_id": frontal, "available": True}]
    page = live_client.get(accepted["url"]).text
    assert f'src="/uploads/{frontal}/image.png"' in page and "data-window-level" in page
    image = live_client.get(f"/uploads/{frontal}/image.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        assert live_client.get(f"/uploads/{unknown}/image.png").status_code == 404
    live_client.delete(f"/api/v1/uploads/{frontal}")
    gone = live_client.get(accepted["api_url"]).json()
    assert gone["images"] == [{"role": "frontal", "upload_id": frontal, "available": False}]
    assert "The frontal image has expired and was deleted." in live_client.get(accepted["url"]).text


def test_the_report_counts_and_renders_only_real_tokens(
    live_worker: WorkerProcess, live_client: TestClient, wait_job: Callable[..., Job]
) -> None:
    accepted, _ = run_encode(live_client, wait_job, seed=503)
    result = live_client.get(accepted["api_url"]).json()["result"]
    tokens = result["tokens"]
    assert tokens and all(token["text"] for token in tokens)
    page = live_client.get(accepted["url"]).text
    n = len(tokens)
    assert f"The report has {n} token{'s' if n != 1 else ''}" in page
    assert f"the model may write at most {MAX_NEW_TOKENS}" in page
    report = page.split('id="report-tokens">', 1)[1].split("</p>", 1)[0]
    buttons = re.findall(r'<span class="tok live-tok"[^>]*>([^<]*)</span>', report)
    assert [html.unescape(b) for b in buttons] == [t["text"] for t in tokens if t["text"].strip()]


def test_the_job_schema_types_each_kinds_result(live_client: TestClient) -> None:
    schema = live_client.get("/openapi.json").json()
    response = schema["paths"]["/api/v1/jobs/{job_id}"]["get"]["responses"]["200"]
    refs = {item["$ref"] for item in response["content"]["application/json"]["schema"]["oneOf"]}
    assert {"#/components/schemas/EncodeJobOut", "#/components/schemas/SteerJobOut"} <= refs
    encode = schema["components"]["schemas"]["EncodeJobOut"]["properties"]
    assert encode["kind"]["const"] == "encode"
    assert {"$ref": "#/components/schemas/EncodeResult"} in encode["result"]["anyOf"]
    token = schema["components"]["schemas"]["ReportToken"]["properties"]
    assert set(token) == {"text", "features"}


def test_an_encode_form_with_an_error_keeps_its_image_and_values(
    live_client: TestClient,
) -> None:
    files = {"frontal": ("frontal.png", xray_png(seed=504), "image/png")}
    data = {
        "sae": SAE_SLUG,
        "max_new_tokens": "999",
        "top_features": "7",
        "indication": "Kept",
        "csrf_token": form_token(live_client),
    }
    response = live_client.post("/encode", data=data, files=files)
    assert response.status_code == 422
    kept = re.search(r'<input type="hidden" name="frontal" value="([0-9a-f-]{36})">', response.text)
    assert kept is not None
    assert f"Using uploaded image {kept[1][:8]}" in response.text
    assert 'value="999"' in response.text and 'value="7"' in response.text
    assert 'value="Kept"' in response.text
    assert live_client.get(f"/uploads/{kept[1]}/image.png").status_code == 200
    fixed = {**data, "max_new_tokens": "4", "frontal": kept[1]}
    again = live_client.post("/encode", data=fixed)
    assert again.status_code == 303 and again.headers["location"].startswith("/encode/")


def test_a_steer_form_with_an_error_comes_back_with_the_same_rows(
    live_client: TestClient,
) -> None:
    data = {
        "sae": SAE_SLUG,
        "feature_index": ["4", "", "", ""],
        "feature_alpha": ["5000", "10", "10", "10"],
        "csrf_token": form_token(live_client),
    }
    files = {"frontal": ("x.png", xray_png(seed=505), "image/png")}
    response = live_client.post("/steer", data=data, files=files)
    assert response.status_code == 422
    assert response.text.count('name="feature_index"') == 4
    assert 'name="frontal" value="' in response.text
