"""Runs Alembic migrations programmatically (`maira-sae db upgrade`, app start-up, tests), and
gives every command a database at head: `ready_database_url` migrates a fresh one first.
"""

from __future__ import annotations

import argparse
from functools import cache
from pathlib import Path

from alembic import command as alembic_command
from alembic.config import Config
from sqlalchemy import create_engine, pool, text

from db.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
# Key of the PostgreSQL advisory lock held while migrating ("maira" in ASCII).
MIGRATION_LOCK = 0x6D61697261


def alembic_config(url: str) -> Config:
    """An Alembic configuration for our migrations against `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`, one process at a time.

    Several processes may start together (`serve --workers N`, many workers): each holds a
    PostgreSQL advisory lock while it migrates, so the first applies the revisions and the
    others, once it is done, find nothing left to do.
    """
    engine = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as lock:
            lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                alembic_command.upgrade(alembic_config(url), revision)
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    finally:
        engine.dispose()


@cache
def _upgraded(url: str) -> str:
    upgrade(url)
    return url


def ready_database_url(settings: Settings) -> str:
    """The deployment's database URL (starting the embedded server when none is configured),
    migrated to head once per process: every command that opens the database calls this, so a
    fresh MAIRA_SAE_HOME or a new server needs no `maira-sae db upgrade` first."""
    from db.engine import resolve_database_url

    return _upgraded(resolve_database_url(settings))


def command(args: argparse.Namespace) -> int:
    """`maira-sae db upgrade`: migrate the configured (or embedded) database to head."""
    from db.settings import get_settings

    ready_database_url(get_settings())
    return 0
