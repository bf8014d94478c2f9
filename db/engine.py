"""Engines and sessions: resolves the database URL (server or embedded) and builds factories."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from db.embedded import start_embedded_postgres
from db.settings import Settings


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver whatever PostgreSQL URL form was given."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def resolve_database_url(settings: Settings) -> str:
    """The configured server's URL, or the embedded server's when none is configured."""
    if settings.database_url:
        return normalise_url(settings.database_url)
    return start_embedded_postgres(settings.home)


def make_engine(url: str, **kwargs: object) -> Engine:
    """A pooled engine for one database URL."""
    return create_engine(normalise_url(url), pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
