"""Alpha sweeps and alpha units end to end: a real worker on the tiny model, the API in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from db.models import Job
from tests.live.conftest import SAE_SLUG
from tests.live.test_jobs import job_count, steer, upload_id
from tests.workers.queue.conftest import WorkerProcess

MEAN_NORM = 20.0


@pytest.fixture
def measured_norm(live_sessions: sessionmaker[Session]) -> Iterator[float]:
    """The live SAE with a stored mean token norm for one test (NULL again afterwards)."""

    def set_norm(value: float | None) -> None:
        with live_sessions.begin() as session:
            session.execute(
                text("UPDATE saes SET mean_token_norm = :norm WHERE slug = :slug"),
                {"norm": value, "slug": SAE_SLUG},
            )

    set_norm(MEAN_NORM)
    yield MEAN_NORM
    set_norm(None)


def test_alpha_sweep_rows_equal_separate_steer_requests(
    live_worker: WorkerProcess, live_client: TestClient, wait_job: Callable[..., Job]
) -> None:
    frontal = upload_id(live_client, seed=51)
    alphas = [-60.0, 0.0, 30.0, 60.0]
    sweep = steer(live_client, frontal, [{"index": 4, "alpha": alphas}], indication="Sweep.")
    done = wait_job(sweep["id"])
    assert done.status == "succeeded", (done.error, live_worker.log())
    runs = done.result["runs"]
    assert [run["alphas"] for run in runs] == [[alpha] for alpha in alphas]
    assert runs[1]["steered"] == done.result["baseline"] and runs[1]["identical"]
    assert len({run["steered"] for run in runs}) > 1
    for alpha, run in zip(alphas, runs, strict=True):
        single = steer(live_client, frontal, [{"index": 4, "alpha": alpha}], indication="Sweep.")
        job = wait_job(single["id"])
        assert job.status == "succeeded", job.error
        (alone,) = job.result["runs"]
        assert job.result["baseline"] == done.result["baseline"]
        assert alone == run

    page = live_client.get(sweep["url"])
    assert page.status_code == 200
    assert 'aria-labelledby="sweep-chart-desc"' in page.text
    assert page.text.count('class="steer-run"') == len(alphas)
    assert "alpha 60: on-target changes 0" in page.text


def test_sweep_of_two_features_pairs_their_alphas(
    live_worker: WorkerProcess, live_client: TestClient, wait_job: Callable[..., Job]
) -> None:
    frontal = upload_id(live_client, seed=52)
    features = [{"index": 6, "alpha": [10, -10]}, {"index": 1, "alpha": 5}]
    accepted = steer(live_client, frontal, features, targets=["Cardiomegaly", "Edema"])
    job = wait_job(accepted["id"])
    assert job.status == "succeeded", job.error
    assert job.params["features"] == [
        {"index": 1, "alphas": [5.0, 5.0]},
        {"index": 6, "alphas": [10.0, -10.0]},
    ]
    assert [run["alphas"] for run in job.result["runs"]] == [[5.0, 10.0], [5.0, -10.0]]
    assert job.result["targets"] == ["Cardiomegaly", "Edema"]

    mismatched = [{"index": 6, "alpha": [1, 2]}, {"index": 1, "alpha": [1, 2, 3]}]
    response = live_client.post(
        "/api/v1/steer", json={"frontal": frontal, "sae": SAE_SLUG, "features": mismatched}
    )
    assert response.status_code == 422
    assert "needs one alpha or the same number" in response.json()["detail"]


def test_alpha_relative_to_the_mean_token_norm_and_the_degeneration_bound(
    live_client: TestClient,
    live_sessions: sessionmaker[Session],
    measured_norm: float,
) -> None:
    frontal = upload_id(live_client, seed=53)
    accepted = steer(live_client, frontal, [{"index": 2, "alpha": [0.5, -0.25]}], alpha_unit="norm")
    with live_sessions() as session:
        job = session.get(Job, accepted["id"])
        assert job is not None
        assert job.params["features"] == [{"index": 2, "alphas": [10.0, -5.0]}]
        assert job.params["mean_token_norm"] == measured_norm

    before = job_count(live_sessions)
    too_large = [
        ([{"index": 2, "alpha": 2.5}], "norm", "2.50 × this layer's mean token norm"),
        ([{"index": 2, "alpha": [10, 41]}], "raw", "2.05 × this layer's mean token norm"),
        ([{"index": 2, "alpha": 25}, {"index": 3, "alpha": -25}], "raw", "summed over"),
    ]
    for features, unit, words in too_large:
        response = live_client.post(
            "/api/v1/steer",
            json={"frontal": frontal, "sae": SAE_SLUG, "features": features, "alpha_unit": unit},
        )
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "alpha is too large" in detail and words in detail
        assert "Use at most 40 raw" in detail
    assert job_count(live_sessions) == before

    page = live_client.get(f"/steer?sae={SAE_SLUG}&feature=2")
    assert 'value="9"' in page.text  # the suggested default: 0.45 × 20
    assert "mean token norm 20" in page.text


def test_norm_units_need_a_measured_norm(live_client: TestClient) -> None:
    frontal = upload_id(live_client, seed=54)
    response = live_client.post(
        "/api/v1/steer",
        json={
            "frontal": frontal,
            "sae": SAE_SLUG,
            "features": [{"index": 2, "alpha": 0.5}],
            "alpha_unit": "norm",
        },
    )
    assert response.status_code == 422
    assert "needs the SAE's mean token norm" in response.json()["detail"]
