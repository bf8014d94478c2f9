"""Property-based run of the whole JSON API from its own OpenAPI document (schemathesis): no
input gives a 5xx, and every answer (status, content type, headers, body) is the documented one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from app.deps import get_session
from app.main import create_app
from db.settings import Settings
from tests.support.factories import SeededData

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
APP = create_app(Settings(database_url="postgresql+psycopg://127.0.0.1/set-by-the-fixture"))
"""Built at import for `parametrize`; the fixture below points it at the test's session."""
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP
schema.location = "/openapi.json"
schema.config.generation.update(modes=list(GenerationMode), allow_x00=True)


@asynccontextmanager
async def no_lifespan(app: object) -> AsyncIterator[None]:
    """Requests are served by the test's session, so there is no engine to open."""
    yield


@pytest.fixture
def seeded_app(database_url: str, session: Session, seeded: SeededData) -> Iterator[None]:
    """APP serving the seeded data from the test's rolled-back session."""
    APP.state.settings = Settings(database_url=database_url)
    APP.router.lifespan_context = no_lifespan

    def test_session() -> Iterator[Session]:
        yield session

    APP.dependency_overrides[get_session] = test_session
    yield
    APP.dependency_overrides.clear()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_input_as_documented(
    case: schemathesis.Case, seeded_app: None
) -> None:
    case.call_and_validate(checks=CHECKS)
    if add_nul(case):
        case.call_and_validate(checks=CHECKS)


def add_nul(case: schemathesis.Case) -> bool:
    """Append a NUL character to the case's first string path or query value (psycopg refuses
    NUL in text, so this is the input most likely to reach the database unchecked)."""
    for values in (case.path_parameters, case.query):
        for key, value in (values or {}).items():
            if isinstance(value, str):
                values[key] = value + "\x00"
                return True
    return False
