"""Fixtures: the stand-in LLM over HTTP, and a fresh database holding the keyword SAE."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.main import create_app
from db.engine import make_engine, make_sessionmaker
from db.models import Sae
from db.settings import Settings
from tests.support.autointerp import make_keyword_sae, standin_server


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    with standin_server() as base_url:
        yield base_url


@pytest.fixture
def keyword_db(make_database: Callable[[], str]) -> Iterator[tuple[str, sessionmaker[Session]]]:
    """A new database with the keyword SAE 'kw' committed; yields its URL and sessions."""
    url = make_database()
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        make_keyword_sae(session)
        session.commit()
    yield url, sessions
    engine.dispose()


def keyword_sae(session: Session) -> Sae:
    return session.scalars(select(Sae).where(Sae.slug == "kw")).one()


@pytest.fixture
def make_app_client() -> Iterator[Callable[[str], TestClient]]:
    """Factory: an in-process client of the app (lifespan started) on a database URL."""
    with ExitStack() as stack:
        yield lambda url: stack.enter_context(TestClient(create_app(Settings(database_url=url))))
