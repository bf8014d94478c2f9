"""Statements straight on psycopg connections, for hot reads that skip SQLAlchemy's result
objects (a third of the feature record's time) and for COPY."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg import Connection
from psycopg.rows import tuple_row
from sqlalchemy import Engine, TextClause
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.orm import Session


def driver_connection(session: Session) -> Connection:
    """The psycopg connection under the session's current transaction."""
    return session.connection().connection.driver_connection


@functools.cache
def driver_sql(clause: TextClause) -> str:
    """`clause` as psycopg SQL (`%(name)s` placeholders), compiled once."""
    return str(clause.compile(dialect=psycopg_dialect()))


def fetch(
    connection: Connection,
    clause: TextClause,
    params: dict[str, Any],
    row_factory: Any = tuple_row,
) -> list[Any]:
    """All rows of `clause` (tuples by default), read by psycopg on `connection`."""
    with connection.cursor(row_factory=row_factory) as cursor:
        return cursor.execute(driver_sql(clause), params).fetchall()


@contextmanager
def read_connection(session: Session) -> Iterator[Connection]:
    """A psycopg connection for a request that only reads, taken straight from the pool of the
    session's engine in autocommit mode and given back on exit.

    The hottest reads skip the ORM session's bookkeeping and the BEGIN and ROLLBACK round
    trips; each statement sees what was committed when it ran. A session that already holds a
    connection (a signed-in request's lookup left its transaction open) lends that one, so a
    request never holds two connections; so does a session bound to a connection rather than
    an engine (the tests' rolled-back one).
    """
    bind = session.get_bind()
    if session.in_transaction() or not isinstance(bind, Engine):
        yield driver_connection(session)
        return
    pooled = bind.raw_connection()
    connection = pooled.driver_connection
    try:
        connection.autocommit = True
        yield connection
    finally:
        if connection.broken:
            pooled.invalidate()
        else:
            connection.autocommit = False
        pooled.close()
