"""The encode and steer forms: prefilled from a feature page or an earlier job, errors in place,
and the API's documentation of alpha's units."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.schemas.live import SteerRequest
from app.services.live import submit_steer
from tests.live.conftest import SAE_SLUG, LiveSetup
from tests.live.images import xray_png
from tests.support.csrf import form_token


def test_encode_form_lists_the_saes(live_client: TestClient) -> None:
    page = live_client.get("/encode")
    assert page.status_code == 200
    assert f'<option value="{SAE_SLUG}"' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert "DICOM headers with patient data are discarded" in page.text


def test_steer_form_prefilled_from_a_feature_page(live_client: TestClient) -> None:
    feature_page = live_client.get(f"/saes/{SAE_SLUG}/features/3")
    steer_link = f"/steer?sae={SAE_SLUG}&amp;feature=3"
    assert feature_page.status_code == 200 and steer_link in feature_page.text
    page = live_client.get(steer_link.replace("&amp;", "&"))
    assert page.status_code == 200
    assert 'name="feature_index" type="number" min="0" value="3"' in page.text
    assert 'name="feature_alpha" type="text" inputmode="decimal" value="10"' in page.text
    assert f'href="/saes/{SAE_SLUG}/features/3">#3 tiny feature 3</a>' in page.text
    assert "raw residual-stream units" in page.text


def test_steer_form_reuses_an_earlier_jobs_study(
    live_client: TestClient, live_setup: LiveSetup, live_sessions: sessionmaker[Session]
) -> None:
    upload = live_client.post(
        "/api/v1/uploads", files={"image": ("x.png", xray_png(seed=9), "image/png")}
    ).json()
    request = SteerRequest(
        frontal=upload["id"],
        sae=SAE_SLUG,
        features=[{"index": 1, "alpha": 5}],
        indication="Fever & cough <3 days>",
    )
    with live_sessions() as session:
        job = submit_steer(session, live_setup.settings(), request).job
    page = live_client.get(f"/steer?from={job.id}&sae={SAE_SLUG}")
    assert f'name="frontal" value="{upload["id"]}"' in page.text
    assert 'value="Fever &amp; cough &lt;3 days&gt;"' in page.text
    assert 'name="feature_index" type="number" min="0" value="1"' in page.text
    assert 'inputmode="decimal" value="5"' in page.text
    live_client.delete(upload["url"])
    expired = live_client.get(f"/steer?from={job.id}")
    assert "The earlier Frontal image has expired" in expired.text
    assert 'id="frontal" name="frontal" type="file"' in expired.text


def test_a_bad_steer_form_comes_back_with_the_reason_and_the_values(
    live_client: TestClient,
) -> None:
    data = {
        "sae": SAE_SLUG,
        "feature_index": ["4", ""],
        "feature_alpha": ["5000", "10"],
        "indication": "Kept text",
        "csrf_token": form_token(live_client),
    }
    files = {"frontal": ("x.png", xray_png(seed=10), "image/png")}
    response = live_client.post("/steer", data=data, files=files)
    assert response.status_code == 422
    assert "features.0.alpha.0: Input should be less than or equal to 1000" in response.text
    assert 'value="Kept text"' in response.text
    assert 'value="5000"' in response.text


def test_steer_api_documents_alpha_units(live_client: TestClient) -> None:
    schema = live_client.get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/steer"]["post"]
    body = operation["requestBody"]["content"]
    alpha = body["application/json"]["schema"]["properties"]["features"]["items"]["properties"]
    assert "raw residual-stream units" in alpha["alpha"]["description"]
    assert "steering_scale" in operation["description"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert set(operation["responses"]) >= {"200", "202", "413", "415", "422"}
