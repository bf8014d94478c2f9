"""Fixtures shared by the whole suite: a migrated PostgreSQL database and rolled-back sessions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.engine import make_engine
from tests.support.databases import server_url, temporary_database

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The `shared/` folder beside the checkout (report corpus, parity fixtures)."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the tests need ../shared beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """URL of a PostgreSQL database we may create other databases from."""
    return server_url()


@pytest.fixture(scope="session")
def make_database(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Factory: each call returns the URL of a new migrated database, dropped after the session."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(temporary_database(postgres_server))


@pytest.fixture(scope="session")
def database_url(make_database: Callable[[], str]) -> str:
    """The suite's main database; tests write to it only inside rolled-back transactions."""
    return make_database()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work, commits included, is rolled back when the test ends."""
    with engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint") as db_session:
            yield db_session
        transaction.rollback()
