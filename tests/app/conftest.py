"""Fixtures for the web tests: the app on the suite's database, a client, seeded data."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.deps import get_session
from app.main import create_app
from db.settings import Settings
from tests.support.factories import SeededData, committed_explorer_data, seed_explorer_data


@pytest.fixture(scope="module")
def seeded_url(make_database: Callable[[], str]) -> tuple[str, SeededData]:
    """A database of its own holding the committed explorer test data, for tests of the real
    app's start-up, pools and connections (the `app` fixture's requests see only the test's
    rolled-back session)."""
    return committed_explorer_data(make_database())


@pytest.fixture
def seeded(session: Session) -> SeededData:
    """The explorer's test data set, inside the test's rolled-back transaction."""
    return seed_explorer_data(session)


@pytest.fixture
def app(database_url: str, session: Session) -> FastAPI:
    """The application, its requests served by the test's session (no lifespan needed)."""
    application = create_app(Settings(database_url=database_url))

    def test_session() -> Iterator[Session]:
        yield session

    application.dependency_overrides[get_session] = test_session
    return application


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """An in-process client; redirects are not followed so tests can see them."""
    return TestClient(app, follow_redirects=False)
