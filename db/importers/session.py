"""A database session for importer commands: the configured (or embedded) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from db.engine import make_engine, make_sessionmaker
from db.migrate import ready_database_url
from db.settings import get_settings


@contextmanager
def command_session() -> Iterator[Session]:
    """A session on the deployment's database, migrated to head first; the caller commits, the
    engine is disposed after."""
    engine = make_engine(ready_database_url(get_settings()))
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()
