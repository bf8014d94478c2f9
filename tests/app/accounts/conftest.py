"""Fixtures for the account tests: users of each role, signed-in clients, and an app factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.deps import get_session
from app.main import create_app
from app.services.accounts import UserOut, add_user
from db.settings import Settings
from tests.support.csrf import form_token

PASSWORD = "correct horse battery"


@pytest.fixture
def make_user(session: Session) -> Callable[..., UserOut]:
    """Factory: a user named `name` with `role` and the password PASSWORD."""

    def make(name: str, role: str = "researcher") -> UserOut:
        return add_user(session, name=name, role=role, password=PASSWORD)

    return make


@pytest.fixture
def make_client(
    database_url: str, session: Session, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., TestClient]]:
    """Factory: a client of a new app (settings overridden) served by the test's session."""
    clients: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        home = tmp_path_factory.mktemp("home")
        application: FastAPI = create_app(
            Settings(database_url=database_url, home=home, **overrides)
        )

        def test_session() -> Iterator[Session]:
            yield session

        application.dependency_overrides[get_session] = test_session
        client = TestClient(application, follow_redirects=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> None:
    """Sign the client in through the /login form; fails the test when it does not work."""
    response = client.post(
        "/login",
        data={
            "name": name,
            "password": password,
            "next": "/account",
            "csrf_token": form_token(client),
        },
    )
    assert response.status_code == 303, response.text
