"""Statements straight on psycopg connections, for hot reads that skip SQLAlchemy's result
objects (a third of the feature record's time) and for COPY; and read plans, sequences of
queries written once and run on a blocking or an asyncio connection."""

from __future__ import annotations

import functools
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from psycopg import Connection
from psycopg.rows import RowFactory, tuple_row
from sqlalchemy import TextClause
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.orm import Session

T = TypeVar("T")


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


@dataclass(frozen=True)
class Query:
    """One statement of a read plan and how its rows are shaped."""

    clause: TextClause
    params: dict[str, Any]
    row_factory: RowFactory[Any] = field(default=tuple_row)


Batch = tuple[Query, ...]

# A read plan yields batches of queries, is sent back each batch's rows (a list of row lists,
# in order), and returns its result. A batch of several queries goes to the server in one round
# trip (psycopg's pipeline mode), so a plan whose queries do not need each other's rows costs
# one wait for the server. The reads of a request are written once, as a generator: `run_plan`
# runs them on a blocking connection, `db.read_pool.run_plan_async` on an asyncio one. Plans
# compose with `yield from`.
ReadPlan = Generator[Batch, list[list[Any]], T]


def run_plan(connection: Connection, plan: ReadPlan[T]) -> T:
    """The result of `plan`, its batches run on a blocking psycopg connection."""
    try:
        batch = next(plan)
        while True:
            batch = plan.send(_run_batch(connection, batch))
    except StopIteration as finished:
        return finished.value


def _run_batch(connection: Connection, batch: Batch) -> list[list[Any]]:
    if len(batch) == 1:
        (query,) = batch
        return [fetch(connection, query.clause, query.params, query.row_factory)]
    cursors = [connection.cursor(row_factory=query.row_factory) for query in batch]
    try:
        with connection.pipeline():
            for cursor, query in zip(cursors, batch, strict=True):
                cursor.execute(driver_sql(query.clause), query.params)
        return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()
