"""POST/GET /api/v1/autointerp/runs and the run pages: queued jobs, progress, off-site endpoints,
and who may start a run (researchers and admins, rate-limited)."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.deps import get_session
from app.main import create_app
from app.services.accounts import add_user
from app.services.api_keys import create_key
from db.models import AutointerpRun, Feature, Job
from db.settings import Settings
from tests.app.accounts.conftest import PASSWORD, sign_in
from tests.support.autointerp import KEYWORDS, make_keyword_sae
from tests.support.csrf import form_token

LOCAL = "http://127.0.0.1:9/v1"
REMOTE = "http://8.8.8.8/v1"


def _body(**extra: object) -> dict:
    return {"sae": "kw", "explainer": "stand-in", "scorer": "stand-in", "base_url": LOCAL, **extra}


def _bearer(session: Session, role: str = "researcher") -> dict[str, str]:
    """The Authorization header of an API key of a new user with `role`."""
    user = add_user(session, name=f"{role}-{uuid.uuid4().hex[:8]}", role=role, password=PASSWORD)
    return {"Authorization": f"Bearer {create_key(session, user_id=user.id, name='t').secret}"}


def _as(client: TestClient, session: Session, role: str = "researcher") -> TestClient:
    client.headers.update(_bearer(session, role))
    return client


def _app(database_url: str, session: Session, **overrides: object) -> TestClient:
    app = create_app(Settings(database_url=database_url, **overrides))
    app.dependency_overrides[get_session] = lambda: session
    return TestClient(app, follow_redirects=False)


def test_a_run_is_queued_as_batches_and_reports_progress(
    client: TestClient, session: Session
) -> None:
    make_keyword_sae(session)
    response = _as(client, session).post("/api/v1/autointerp/runs", json=_body())
    assert response.status_code == 202, response.text
    run = response.json()
    assert response.headers["location"] == run["api_url"]
    assert (run["status"], run["n_features"], run["n_done"]) == ("queued", len(KEYWORDS), 0)
    assert run["remote_warning"] is None and run["config"]["explainer"] == "stand-in"
    jobs = session.scalar(select(func.count()).select_from(Job).where(Job.kind == "autointerp"))
    assert jobs == 2  # 12 features in batches of 8
    again = client.get(run["api_url"]).json()
    assert again["id"] == run["id"] and again["n_remaining"] == len(KEYWORDS)
    page = client.get(run["url"])
    assert page.status_code == 200
    assert "Features done" in page.text and "stand-in LLM" in page.text
    assert run["api_url"] in page.headers["link"]
    panel = client.get(run["url"] + "/panel")
    assert 'id="run-panel"' in panel.text and "<html" not in panel.text


def test_filters_pick_the_features(client: TestClient, session: Session) -> None:
    make_keyword_sae(session)
    _as(client, session)
    run = client.post("/api/v1/autointerp/runs", json=_body(features=[1, 3, 99], limit=5)).json()
    assert run["n_features"] == 2


def test_the_api_and_the_form_take_the_command_lines_filters(
    client: TestClient, session: Session
) -> None:
    make_keyword_sae(session)
    session.execute(update(Feature).where(Feature.index.in_([1, 2, 5])).values(frequency=0.2))
    _as(client, session)
    run = client.post("/api/v1/autointerp/runs", json=_body(min_frequency=0.1, batch_size=2)).json()
    assert run["n_features"] == 3
    runs = session.scalars(select(AutointerpRun)).all()
    assert runs[0].feature_indices == [1, 2, 5]
    assert (
        session.scalar(select(func.count()).select_from(Job).where(Job.kind == "autointerp")) == 2
    )
    add_user(session, name="rhea", role="researcher", password=PASSWORD)
    sign_in(client, "rhea")
    client.get("/autointerp")
    fields = {"sae": "kw", "explainer": "stand-in", "scorer": "stand-in"}
    started = client.post(
        "/autointerp",
        data={
            **fields,
            "features": "0-2,5",
            "min_frequency": "0.1",
            "csrf_token": form_token(client),
        },
    )
    assert started.status_code == 303, started.text
    latest = session.scalars(
        select(AutointerpRun).order_by(AutointerpRun.created_at.desc())
    ).first()
    assert latest.feature_indices == [1, 2, 5]
    bad = client.post(
        "/autointerp", data={**fields, "features": "3-1", "csrf_token": form_token(client)}
    )
    assert bad.status_code == 422 and "expected indices like 3,5,10-12" in bad.text


def test_bad_requests_are_clear_4xx(client: TestClient, session: Session) -> None:
    make_keyword_sae(session)
    _as(client, session)
    assert client.post("/api/v1/autointerp/runs", json=_body(sae="nope")).status_code == 404
    no_match = client.post("/api/v1/autointerp/runs", json=_body(features=[500]))
    assert no_match.status_code == 422 and "no feature" in no_match.json()["detail"]
    assert client.post("/api/v1/autointerp/runs", json=_body(seed=-1)).status_code == 422
    assert client.post("/api/v1/autointerp/runs", json=_body(extra=1)).status_code == 422
    assert client.get(f"/api/v1/autointerp/runs/{uuid.uuid4()}").status_code == 404
    assert client.get("/api/v1/autointerp/runs/not-a-uuid").status_code == 422
    assert client.get(f"/autointerp/runs/{uuid.uuid4()}").status_code == 404


def test_an_off_site_endpoint_is_refused_by_default(client: TestClient, session: Session) -> None:
    make_keyword_sae(session)
    response = _as(client, session).post("/api/v1/autointerp/runs", json=_body(base_url=REMOTE))
    assert response.status_code == 403
    assert "would leave the site" in response.json()["detail"]
    assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_an_allowed_off_site_endpoint_is_named_plainly(database_url: str, session: Session) -> None:
    make_keyword_sae(session)
    client = _app(database_url, session, llm_allow_remote=True, llm_base_url=REMOTE)
    _as(client, session)
    run = client.post("/api/v1/autointerp/runs", json=_body(base_url=None))
    assert run.status_code == 202
    assert "8.8.8.8" in run.json()["remote_warning"]
    form = client.get("/autointerp")
    assert "would leave the site" in form.text and "This deployment allows it" in form.text
    assert "would leave the site" in client.get(run.json()["url"]).text


def test_the_form_starts_a_run_and_shows_errors(client: TestClient, session: Session) -> None:
    make_keyword_sae(session)
    add_user(session, name="rita", role="researcher", password=PASSWORD)
    sign_in(client, "rita")
    form = client.get("/autointerp")
    assert form.status_code == 200 and 'value="kw"' in form.text
    token = form_token(client)
    fields = {"sae": "kw", "explainer": "stand-in", "scorer": "stand-in", "csrf_token": token}
    started = client.post("/autointerp", data=fields)
    assert started.status_code == 303
    assert client.get(started.headers["location"]).status_code == 200
    missing = client.post("/autointerp", data={**fields, "sae": "x"})
    assert missing.status_code == 404 and "no SAE named" in missing.text
    assert client.post("/autointerp", data={**fields, "csrf_token": "forged"}).status_code == 403


def test_anonymous_visitors_must_sign_in_to_start_a_run(
    client: TestClient, session: Session
) -> None:
    make_keyword_sae(session)
    api = client.post("/api/v1/autointerp/runs", json=_body())
    assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
    form = client.get("/autointerp")
    assert form.status_code == 303 and form.headers["location"] == "/login?next=%2Fautointerp"
    fields = {"sae": "kw", "explainer": "stand-in", "scorer": "stand-in"}
    posted = client.post("/autointerp", data={**fields, "csrf_token": form_token(client)})
    assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
    assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_only_researchers_and_admins_start_runs(client: TestClient, session: Session) -> None:
    make_keyword_sae(session)
    reviewer = client.post(
        "/api/v1/autointerp/runs", json=_body(), headers=_bearer(session, "reviewer")
    )
    assert reviewer.status_code == 403 and "researcher" in reviewer.json()["detail"]
    add_user(session, name="rev", role="reviewer", password=PASSWORD)
    sign_in(client, "rev")
    assert client.get("/autointerp").status_code == 403
    fields = {"sae": "kw", "explainer": "stand-in", "scorer": "stand-in"}
    posted = client.post("/autointerp", data={**fields, "csrf_token": form_token(client)})
    assert posted.status_code == 403
    assert session.scalar(select(func.count()).select_from(Job)) == 0
    for role in ("researcher", "admin"):
        started = client.post(
            "/api/v1/autointerp/runs", json=_body(), headers=_bearer(session, role)
        )
        assert started.status_code == 202, (role, started.text)


def test_starting_runs_is_rate_limited(database_url: str, session: Session) -> None:
    make_keyword_sae(session)
    client = _app(database_url, session, rate_limits={"autointerp": 2})
    _as(client, session)
    for _ in range(2):
        assert client.post("/api/v1/autointerp/runs", json=_body(features=[1])).status_code == 202
    refused = client.post("/api/v1/autointerp/runs", json=_body(features=[1]))
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "autointerp" in refused.json()["detail"]
