"""Pooled connections under the web app: a connection the server drops costs one request a
503 + Retry-After, never a 500, and the next request is served on a fresh connection; a request
never holds two connections at once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.main import create_app
from app.services.accounts import add_user
from app.services.api_keys import create_key
from db.engine import make_engine
from db.settings import Settings
from tests.support.factories import SeededData


def _drop_app_connections(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        dropped = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    engine.dispose()
    return dropped


@pytest.mark.parametrize(
    "path",
    ["/api/v1/saes/{slug}/features/{index}", "/api/v1/saes/{slug}", "/saes/{slug}/features"],
)
def test_a_dropped_connection_is_a_retry_not_a_500(
    seeded_url: tuple[str, SeededData], path: str
) -> None:
    url, seeded = seeded_url
    target = path.format(slug=seeded.sae_slug, index=seeded.rich_feature)
    app = create_app(Settings(database_url=url, db_pool_size=1))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get(target).status_code == 200
        assert _drop_app_connections(url) >= 1

        # Returned a moment ago, the pooled connection is handed out without a ping.
        retried = client.get(target)
        assert retried.status_code == 503
        assert retried.headers["retry-after"]

        assert client.get(target).status_code == 200


def test_a_signed_in_feature_read_uses_its_one_connection(
    seeded_url: tuple[str, SeededData],
) -> None:
    url, seeded = seeded_url
    engine = make_engine(url)
    with Session(engine) as session:
        user = add_user(
            session, name="pool-reader", role="researcher", password="a long passphrase"
        )
        secret = create_key(session, user_id=user.id, name="pool").secret
        session.commit()
    engine.dispose()
    # One connection per process: the key's lookup holds it, so the feature's queries must run
    # on it too instead of waiting (until the pool's timeout) for a second one.
    app = create_app(Settings(database_url=url, db_pool_size=1, db_pool_timeout_s=2))
    target = f"/api/v1/saes/{seeded.sae_slug}/features/{seeded.rich_feature}"
    with TestClient(app) as client:
        # Twice: the second lookup records no use (once a minute), so its transaction stays open.
        for _ in range(2):
            answer = client.get(target, headers={"Authorization": f"Bearer {secret}"})
            assert answer.status_code == 200
            assert answer.json()["index"] == seeded.rich_feature
