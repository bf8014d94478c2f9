"""The request's session is closed once its response has gone, whatever the route did with it:
with a pool of one connection, request after request finds it free, after a route that left a
transaction open and after one that failed."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from app.deps import SessionDep
from app.main import create_app
from db.settings import Settings
from tests.support.factories import SeededData


def test_each_request_gives_its_connection_back(seeded_url: tuple[str, SeededData]) -> None:
    url, seeded = seeded_url
    app = create_app(Settings(database_url=url, db_pool_size=1, db_pool_timeout_s=0.5))

    @app.get("/left-open-for-test")
    def left_open(session: SessionDep) -> int:
        """Reads in a transaction and leaves it open, for the closer to end."""
        return session.execute(text("SELECT count(*) FROM saes")).scalar_one()

    @app.get("/fails-for-test")
    def fails(session: SessionDep) -> None:
        session.execute(text("SELECT 1"))
        raise RuntimeError("an unexpected failure with a transaction open")

    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ["/left-open-for-test", "/fails-for-test"] * 3 + [
            f"/saes/{seeded.sae_slug}/features",
            f"/api/v1/saes/{seeded.sae_slug}",
        ]:
            answer = client.get(path)
            assert answer.status_code == (500 if path == "/fails-for-test" else 200), path
        engine = app.state.engine
        assert engine.pool.checkedout() == 0
