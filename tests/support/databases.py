"""Throwaway PostgreSQL databases for tests: one per request, migrated, dropped afterwards."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from db.embedded import start_embedded_postgres
from db.engine import normalise_url
from db.migrate import upgrade

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    """The machine's PostgreSQL (MAIRA_SAE_TEST_DATABASE_URL), or an embedded one if unreachable."""
    url = normalise_url(os.environ.get("MAIRA_SAE_TEST_DATABASE_URL", DEFAULT_SERVER))
    try:
        engine = create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
        return url
    except OperationalError:
        return start_embedded_postgres(Path(tempfile.gettempdir()) / "maira-sae-test-pg")


@contextmanager
def temporary_database(admin_url: str, *, migrate: bool = True) -> Iterator[str]:
    """Create a uniquely named database on the server, migrate it to head (unless `migrate` is
    false: then it holds no table at all), drop it on exit."""
    name = f"maira_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
