"""Migrations run one process at a time under a PostgreSQL advisory lock."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import create_engine, inspect, text

from db.migrate import MIGRATION_LOCK, upgrade
from tests.support.databases import temporary_database

WAITING_FOR_LOCK = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def test_upgrade_waits_for_the_migration_lock(postgres_server: str) -> None:
    with temporary_database(postgres_server, migrate=False) as url:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as holder, ThreadPoolExecutor(1) as pool:
                holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
                migrating = pool.submit(upgrade, url)
                deadline = time.monotonic() + 10
                while holder.execute(WAITING_FOR_LOCK).scalar() == 0:
                    assert time.monotonic() < deadline, "upgrade did not wait for the lock"
                    time.sleep(0.05)
                assert not migrating.done()
                assert not inspect(holder).has_table("alembic_version")
                holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                migrating.result(timeout=120)
            assert inspect(engine).has_table("alembic_version")
        finally:
            engine.dispose()


def test_processes_migrating_together_both_succeed(postgres_server: str) -> None:
    with temporary_database(postgres_server, migrate=False) as url, ThreadPoolExecutor(3) as pool:
        for migrating in [pool.submit(upgrade, url) for _ in range(3)]:
            migrating.result(timeout=180)
