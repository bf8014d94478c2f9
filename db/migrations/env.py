"""Alembic environment: runs migrations online against the URL given by `db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from db.models import Base

config = context.config
target_metadata = Base.metadata
MIGRATION_LOCK = 72_616_301
"""Advisory lock key: processes migrating the same database at once take turns."""


def include_name(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    """Leave procrastinate's own tables (created by revision 0003) out of autogenerate."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()
    engine.dispose()


run_migrations_online()
