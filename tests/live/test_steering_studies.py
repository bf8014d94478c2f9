"""Steering studies end to end: real `maira-sae worker` processes on the tiny model, a database of
this module's own, the API and pages in-process."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from app.main import create_app
from app.services.accounts import add_user
from app.services.api_keys import create_key
from db.engine import make_engine, make_sessionmaker
from db.models import Job
from db.settings import study_sets_dir
from db.workers import count_live_workers
from tests.app.accounts.conftest import PASSWORD
from tests.live.conftest import SAE_SLUG, LiveSetup, prepare_live
from tests.live.images import xray_png
from tests.support.csrf import form_token
from tests.support.workers import WorkerStarter
from workers.corpus.drawn_studies import DrawnStudy, write_studies
from workers.corpus.radiographs import CARDIOMEGALY
from workers.corpus.radiographs import EFFUSION as EFFUSION_DRAWN
from workers.demo import HELD_OUT_SET
from workers.kinds.steering_study import StudyPartResult

EFFUSION = 9
"""A feature labelled "left pleural effusion": its target is Pleural Effusion."""


@pytest.fixture(scope="module")
def setup(make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> LiveSetup:
    live = prepare_live(make_database(), tmp_path_factory.mktemp("study-home"))
    engine = make_engine(live.url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE features SET label = 'left pleural effusion' WHERE index = :index "
                "AND sae_id = (SELECT id FROM saes WHERE slug = :slug)"
            ),
            {"index": EFFUSION, "slug": SAE_SLUG},
        )
    engine.dispose()
    return live


@pytest.fixture(scope="module")
def sessions(setup: LiveSetup) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(setup.url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def starter(setup: LiveSetup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerStarter]:
    starter = WorkerStarter(setup.url, tmp_path_factory.mktemp("study-workers"))
    yield starter
    starter.close()


@pytest.fixture
def client(setup: LiveSetup) -> Iterator[TestClient]:
    with TestClient(create_app(setup.settings()), follow_redirects=False) as client:
        yield client


def live_workers(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return count_live_workers(session)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def finished(client: TestClient, api_url: str, timeout: float = 600.0) -> dict:
    body: dict = {}

    def done() -> bool:
        nonlocal body
        body = client.get(api_url).json()
        return body["status"] != "running"

    wait_for(done, f"steering study {api_url}", timeout)
    assert body["status"] == "succeeded", body["parts"]
    return body


def part_outcomes(sessions: sessionmaker[Session], body: dict) -> list[dict]:
    with sessions() as session:
        jobs = {job.id: job for job in session.scalars(select(Job))}
        return [
            study.model_dump()
            for part in body["parts"]
            for study in StudyPartResult.model_validate(jobs[uuid.UUID(part["id"])].result).studies
        ]


def twenty_studies(client: TestClient) -> list[dict]:
    uploads = []
    for seed in range(5):
        response = client.post(
            "/api/v1/uploads", files={"image": ("x.png", xray_png(300 + seed), "image/png")}
        )
        assert response.status_code == 201, response.text
        uploads.append(response.json()["id"])
    indications = ["Cough.", "Fever.", "Chest pain.", "Dyspnea."]
    return [{"frontal": u, "indication": i} for u in uploads for i in indications]


def test_a_study_on_two_workers_equals_the_same_study_on_one(
    client: TestClient, starter: WorkerStarter, sessions: sessionmaker[Session], setup: LiveSetup
) -> None:
    first = starter.start(concurrency=1, home=str(setup.home), model_path="tiny")
    second = starter.start(concurrency=1, home=str(setup.home), model_path="tiny")
    wait_for(lambda: live_workers(sessions) == 2, "two live workers")
    request = {
        "sae": SAE_SLUG,
        "features": [EFFUSION, 2],
        "alphas": [-40, 40, 0],
        "studies": twenty_studies(client),
        "max_new_tokens": 4,
    }
    response = client.post("/api/v1/steering-studies", json=request)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["parts"] == 2 and accepted["url"] == f"/steering-studies/{accepted['id']}"
    two = finished(client, accepted["api_url"])
    assert [part["n_studies"] for part in two["parts"]] == [10, 10]
    with sessions() as session:
        ran_on = {session.get(Job, uuid.UUID(part["id"])).worker for part in two["parts"]}
    assert ran_on == {first.name, second.name}

    assert second.stop() == 0
    wait_for(lambda: live_workers(sessions) == 1, "one live worker")
    response = client.post("/api/v1/steering-studies", json=request)
    assert response.status_code == 202, response.text
    assert response.json()["parts"] == 1
    one = finished(client, response.json()["api_url"])
    assert [part["n_studies"] for part in one["parts"]] == [20]

    assert one["results"] == two["results"]
    assert part_outcomes(sessions, one) == part_outcomes(sessions, two)
    results = {feature["index"]: feature for feature in two["results"]}
    assert results[EFFUSION]["targets"] == ["Pleural Effusion"] and results[2]["targets"] == []
    for feature in two["results"]:
        assert [cell["alpha"] for cell in feature["cells"]] == [-40.0, 0.0, 40.0]
        for cell in feature["cells"]:
            counts = [cell[name]["count"] for name in ("on_only", "off_only", "both", "none")]
            assert sum(counts) == cell["n"] == 20
            assert all(cell[n]["low"] <= cell[n]["share"] <= cell[n]["high"] for n in ("none",))
        zero = feature["cells"][1]
        assert zero["none"]["count"] == 20
        (correlation,) = feature["correlations"]
        assert correlation["alpha"] == 40.0 and correlation["n"] == 20
    outcomes = part_outcomes(sessions, two)
    assert len(outcomes) == 20 and all(len(study["runs"]) == 6 for study in outcomes)
    assert any(run["steered"] != study["baseline"] for study in outcomes for run in study["runs"])

    exported = client.get(f"{accepted['api_url']}?format=csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(row["feature"], row["alpha"]) for row in rows] == [
        (str(index), alpha) for index in (EFFUSION, 2) for alpha in ("-40", "0", "40")
    ]
    assert rows[0]["targets"] == "Pleural Effusion" and rows[1]["none_count"] == "20"
    assert rows[2]["n"] == "20" and rows[2]["up_down_r_on_target"] in (
        "",
        rows[2]["up_down_r_on_target"],
    )

    page = client.get(accepted["url"])
    assert page.status_code == 200
    assert page.text.count('class="data steering-study-table"') == 2
    assert 'aria-labelledby="study-chart-9-desc"' in page.text
    assert "Download the table as CSV" in page.text
    feature_page = client.get(f"/saes/{SAE_SLUG}/features/{EFFUSION}")
    assert f'href="/steering-studies/{accepted["id"]}"' in feature_page.text


def test_a_study_without_workers_waits_and_has_no_csv_yet(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    wait_for(lambda: live_workers(sessions) == 0, "no live worker")
    upload = client.post(
        "/api/v1/uploads", files={"image": ("x.png", xray_png(400), "image/png")}
    ).json()["id"]
    request = {"sae": SAE_SLUG, "features": [3], "alphas": [5], "studies": [{"frontal": upload}]}
    response = client.post("/api/v1/steering-studies", json=request)
    assert response.status_code == 202 and response.json()["parts"] == 1
    body = client.get(response.json()["api_url"]).json()
    assert body["status"] == "running" and body["results"] is None
    csv_response = client.get(f"{response.json()['api_url']}?format=csv")
    assert csv_response.status_code == 409 and "no results yet" in csv_response.json()["detail"]
    assert "Running" in client.get(response.json()["url"]).text
    assert client.get("/api/v1/steering-studies/nope").status_code == 404
    assert client.get("/steering-studies/00000000-0000-4000-8000-000000000000").status_code == 404


def test_steering_study_requests_are_checked(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    upload = client.post(
        "/api/v1/uploads", files={"image": ("x.png", xray_png(401), "image/png")}
    ).json()["id"]
    base = {"sae": SAE_SLUG, "features": [3], "alphas": [5], "studies": [{"frontal": upload}]}
    cases = [
        ({"features": [64]}, "there is no feature 64"),
        ({"features": [3, 3]}, "listed only once"),
        ({"alphas": [5, 5]}, "Each alpha may be listed only once"),
        ({"studies": []}, "at least 1 item"),
        ({"alpha_unit": "norm"}, "needs the SAE's mean token norm"),
        ({"targets": ["Broken Heart"]}, "Input should be"),
        ({"studies": [{"frontal": "00000000-0000-4000-8000-000000000000"}]}, "has expired"),
    ]
    for change, words in cases:
        response = client.post("/api/v1/steering-studies", json={**base, **change})
        assert response.status_code == 422, (change, response.text)
        assert words in str(response.json()["detail"]), (change, response.text)
    with sessions.begin() as session:
        session.execute(text("UPDATE saes SET mean_token_norm = 10"))
    try:
        response = client.post("/api/v1/steering-studies", json={**base, "alphas": [-21, 5]})
        assert response.status_code == 422 and "alpha is too large" in response.json()["detail"]
    finally:
        with sessions.begin() as session:
            session.execute(text("UPDATE saes SET mean_token_norm = NULL"))


def test_the_form_uploads_the_images_and_starts_the_study(client: TestClient) -> None:
    form = client.get(f"/steering-studies/new?sae={SAE_SLUG}&feature={EFFUSION}")
    assert form.status_code == 200
    assert 'name="features" type="text" required value="9"' in form.text
    files = [("images", (f"{n}.png", xray_png(500 + n), "image/png")) for n in range(2)]
    data = {"sae": SAE_SLUG, "features": "9", "alphas": "-10, 10", "indication": "Cough."}
    data["csrf_token"] = form_token(client)
    response = client.post("/steering-studies", data=data, files=files)
    assert response.status_code == 303, response.text
    body = client.get("/api/v1" + response.headers["location"]).json()
    assert body["n_studies"] == 2 and body["alphas"] == [-10.0, 10.0]

    bad = client.post("/steering-studies", data={**data, "alphas": "5000"}, files=files)
    assert bad.status_code == 422
    assert "alphas.0: Input should be less than or equal to 1000" in bad.text
    assert 'value="9"' in bad.text
    empty = client.post("/steering-studies", data=data)
    assert empty.status_code == 422 and "choose frontal images" in empty.text


def test_a_study_and_its_uploads_belong_to_the_browser_that_made_them(
    setup: LiveSetup, client: TestClient
) -> None:
    client.get("/")  # a browser with its own anonymous id
    upload = client.post(
        "/api/v1/uploads", files={"image": ("x.png", xray_png(402), "image/png")}
    ).json()["id"]
    request = {"sae": SAE_SLUG, "features": [3], "alphas": [5], "studies": [{"frontal": upload}]}
    with TestClient(create_app(setup.settings()), follow_redirects=False) as other:
        other.get("/")
        stolen = other.post("/api/v1/steering-studies", json=request)
        assert stolen.status_code == 422 and "has expired" in str(stolen.json()["detail"])
        form = {
            "sae": SAE_SLUG,
            "features": "3",
            "alphas": "5",
            "upload_ids": upload,
            "csrf_token": form_token(other),
        }
        stolen_form = other.post("/steering-studies", data=form)
        assert stolen_form.status_code == 422 and "has expired" in stolen_form.text
        mine = client.post("/api/v1/steering-studies", json=request)
        assert mine.status_code == 202, mine.text
        accepted = mine.json()
        assert client.get(accepted["api_url"]).status_code == 200
        assert client.get(accepted["url"]).status_code == 200
        assert other.get(accepted["api_url"]).status_code == 404
        assert other.get(f"{accepted['api_url']}?format=csv").status_code == 404
        assert other.get(accepted["url"]).status_code == 404


def test_starting_studies_is_rate_limited(
    setup: LiveSetup, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        user = add_user(session, name="limited", role="researcher", password=PASSWORD)
        secret = create_key(session, user_id=user.id, name="t").secret
    settings = setup.settings(rate_limits={"steering_studies": 1})
    with TestClient(create_app(settings), follow_redirects=False) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        bad = {"sae": SAE_SLUG, "features": [64], "alphas": [5], "studies": []}
        assert client.post("/api/v1/steering-studies", json=bad).status_code == 422
        refused = client.post("/api/v1/steering-studies", json=bad)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "steering_studies" in refused.json()["detail"]
        assert client.post("/steering-studies", data={"sae": SAE_SLUG}).status_code == 429


def demo_held_out_set(setup: LiveSetup, n: int) -> list[DrawnStudy]:
    """Write `n` drawn studies where the demo writes its held-out set."""
    findings = [frozenset(), frozenset({EFFUSION_DRAWN}), frozenset({CARDIOMEGALY})]
    studies = [
        DrawnStudy(f"held-{number}", "The lungs are clear.", findings[number % 3], 700 + number)
        for number in range(n)
    ]
    write_studies(studies, study_sets_dir(setup.home) / HELD_OUT_SET)
    return studies


def test_a_study_runs_over_the_demo_held_out_set_without_uploads(
    client: TestClient, starter: WorkerStarter, sessions: sessionmaker[Session], setup: LiveSetup
) -> None:
    demo_held_out_set(setup, 5)
    listed = client.get("/api/v1/study-sets")
    assert listed.status_code == 200
    assert listed.json() == {"data": [{"name": HELD_OUT_SET, "n_studies": 5}]}
    form = client.get(f"/steering-studies/new?sae={SAE_SLUG}&feature={EFFUSION}")
    assert f'<option value="{HELD_OUT_SET}" selected>{HELD_OUT_SET} (5 studies)</option>' in (
        form.text
    )

    data = {
        "sae": SAE_SLUG,
        "features": "9",
        "alphas": "-40, 40",
        "study_set": HELD_OUT_SET,
        "study_set_limit": "3",
        "max_new_tokens": "4",
        "csrf_token": form_token(client),
    }
    response = client.post("/steering-studies", data=data)
    assert response.status_code == 303, response.text
    page_url = response.headers["location"]
    body = client.get("/api/v1" + page_url).json()
    assert body["n_studies"] == 3 and body["study_set"] == HELD_OUT_SET
    starter.start(concurrency=1, home=str(setup.home), model_path="tiny")
    done = finished(client, "/api/v1" + page_url)
    assert [cell["n"] for cell in done["results"][0]["cells"]] == [3, 3]
    assert f"3 studies of study set <code>{HELD_OUT_SET}</code>" in client.get(page_url).text

    request = {
        "sae": SAE_SLUG,
        "features": [EFFUSION],
        "alphas": [-40, 40],
        "study_set": {"name": HELD_OUT_SET, "limit": 3},
        "max_new_tokens": 4,
    }
    again = client.post("/api/v1/steering-studies", json=request)
    assert again.status_code == 202, again.text
    assert finished(client, again.json()["api_url"])["results"] == done["results"]

    both = client.post("/steering-studies", data={**data, "upload_ids": "x"})
    assert both.status_code == 422 and "not both" in both.text
    cases = [
        ({"study_set": {"name": "nope"}}, "There is no study set 'nope'"),
        ({"study_set": {"name": "../uploads"}}, "should match pattern"),
        ({"study_set": {"name": HELD_OUT_SET, "limit": 0}}, "greater than or equal to 1"),
        ({"studies": [{"frontal": str(uuid.uuid4())}]}, "not both or neither"),
        ({"study_set": None}, "not both or neither"),
    ]
    for change, words in cases:
        rejected = client.post("/api/v1/steering-studies", json={**request, **change})
        assert rejected.status_code == 422, (change, rejected.text)
        assert words in str(rejected.json()["detail"]), (change, rejected.text)
