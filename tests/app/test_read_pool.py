"""The feature record is read on the event loop, through the app's read pool: the same JSON as
the blocking read; with no read connection free a request is answered 503 + Retry-After, and the
next one is served."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from app.main import create_app
from app.services.features import feature_by_slug, feature_json
from db.driver import run_plan
from db.engine import libpq_url
from db.settings import Settings
from tests.support.factories import SeededData


def test_the_event_loop_read_serves_the_blocking_reads_json(
    seeded_url: tuple[str, SeededData],
) -> None:
    url, seeded = seeded_url
    with TestClient(create_app(Settings(database_url=url))) as client:
        for index in (seeded.rich_feature, seeded.pieces_feature, seeded.dead[0]):
            served = client.get(f"/api/v1/saes/{seeded.sae_slug}/features/{index}")
            assert served.status_code == 200
            assert served.headers["content-type"] == "application/json"
            with psycopg.connect(libpq_url(url), autocommit=True) as connection:
                stored = run_plan(connection, feature_by_slug(seeded.sae_slug, index))
            assert served.content == feature_json(stored)


def test_no_free_read_connection_is_a_retry(seeded_url: tuple[str, SeededData]) -> None:
    url, seeded = seeded_url
    settings = Settings(database_url=url, db_read_pool_size=1, db_pool_timeout_s=0.3)
    target = f"/api/v1/saes/{seeded.sae_slug}/features/{seeded.rich_feature}"
    app = create_app(settings)
    with TestClient(app) as client:
        pool = app.state.read_pool
        held = client.portal.call(pool.getconn)
        try:
            busy = client.get(target)
        finally:
            client.portal.call(pool.putconn, held)
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == str(settings.busy_retry_after_s)
        assert busy.json() == {"detail": "The server is busy; please retry in a moment."}
        assert client.get(target).status_code == 200
