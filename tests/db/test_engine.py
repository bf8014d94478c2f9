"""Pooled connections: a connection the server dropped while it sat idle is replaced unseen."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, exc, text
from sqlalchemy.pool import NullPool

from db.engine import libpq_url, make_engine


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(database_url: str, pid: int) -> None:
    other = make_engine(database_url, poolclass=NullPool)
    with other.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def test_an_idle_connection_killed_by_the_server_is_replaced(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1, max_overflow=0, ping_after_idle_s=0.0)
    first = _backend_pid(engine)
    _terminate(database_url, first)

    # The pooled connection is dead; the checkout ping notices and the pool opens a new one.
    assert _backend_pid(engine) != first
    engine.dispose()


def test_a_recently_returned_connection_is_trusted_without_a_ping(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1, max_overflow=0, ping_after_idle_s=3600)
    first = _backend_pid(engine)
    _terminate(database_url, first)

    # No ping on checkout (it would cost every request a round trip): the dead connection fails
    # its one request, the pool drops it, and the next request gets a fresh connection.
    with pytest.raises(exc.OperationalError):
        _backend_pid(engine)
    assert _backend_pid(engine) != first
    engine.dispose()


def test_libpq_url_drops_the_driver_and_keeps_the_query() -> None:
    assert (
        libpq_url("postgresql+psycopg://u:p%40ss@h:5433/db?host=/tmp/sock")
        == "postgresql://u:p%40ss@h:5433/db?host=%2Ftmp%2Fsock"
    )
    assert libpq_url("postgres://u@h/db") == "postgresql://u@h/db"
