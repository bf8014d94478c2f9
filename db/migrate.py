"""Runs Alembic migrations programmatically (`maira-sae db upgrade`, app start-up, tests)."""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command as alembic_command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic configuration for our migrations against `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`."""
    alembic_command.upgrade(alembic_config(url), revision)


def command(args: argparse.Namespace) -> int:
    """`maira-sae db upgrade`: migrate the configured (or embedded) database to head."""
    from db.engine import resolve_database_url
    from db.settings import get_settings

    upgrade(resolve_database_url(get_settings()))
    return 0
