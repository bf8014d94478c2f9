"""Read plans: written once, they read alike on a blocking connection and through the web app's
asyncio read pool, each batch in one round trip; a failed batch or a connection the server
dropped while idle costs nothing later."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from sqlalchemy import text

from db.driver import Query, ReadPlan, run_plan
from db.engine import libpq_url
from db.read_pool import make_read_pool, run_plan_async

T = TypeVar("T")

_NUMBERS = text("SELECT n FROM generate_series(1, :n) AS n")
_WORD = text("SELECT CAST(:word AS text) AS word")
_FAILS = text("SELECT 1 / 0")


def _numbers_then_a_batch(n: int) -> ReadPlan[tuple[list[int], str]]:
    """One query, then two sent together, the second batch built from the first's rows."""
    (counted,) = yield (Query(_NUMBERS, {"n": n}),)
    numbers, words = yield (
        Query(_NUMBERS, {"n": 2 * len(counted)}),
        Query(_WORD, {"word": "pipelined"}, dict_row),
    )
    return [row[0] for row in numbers], words[0]["word"]


def _failing_batch() -> ReadPlan[None]:
    yield (Query(_WORD, {"word": "before"}), Query(_FAILS, {}))


def _through_pool(
    database_url: str,
    work: Callable[[AsyncConnection], Awaitable[T]],
    ping_after_idle_s: float = 5.0,
) -> Callable[[], Awaitable[list[T]]]:
    """Runs `work` twice, each time on a connection taken from a one-connection read pool."""

    async def run() -> list[T]:
        pool = make_read_pool(
            database_url, size=1, timeout_s=5, ping_after_idle_s=ping_after_idle_s
        )
        await pool.open(wait=True)
        try:
            results = []
            for _ in range(2):
                async with pool.connection() as connection:
                    results.append(await work(connection))
            return results
        finally:
            await pool.close()

    return run


def test_a_plan_reads_the_same_on_both_drivers(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        blocking = run_plan(connection, _numbers_then_a_batch(3))

    async def plan(connection: AsyncConnection) -> tuple[list[int], str]:
        return await run_plan_async(connection, _numbers_then_a_batch(3))

    pooled = asyncio.run(_through_pool(database_url, plan)())
    assert pooled == [blocking, blocking] == [([1, 2, 3, 4, 5, 6], "pipelined")] * 2


def test_a_failed_batch_raises_and_leaves_the_connection_usable(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        with pytest.raises(psycopg.errors.DivisionByZero):
            run_plan(connection, _failing_batch())
        assert run_plan(connection, _numbers_then_a_batch(1)) == ([1, 2], "pipelined")

    async def fail_then_read(connection: AsyncConnection) -> tuple[list[int], str]:
        with pytest.raises(psycopg.errors.DivisionByZero):
            await run_plan_async(connection, _failing_batch())
        return await run_plan_async(connection, _numbers_then_a_batch(1))

    assert asyncio.run(_through_pool(database_url, fail_then_read)()) == [([1, 2], "pipelined")] * 2


def test_an_idle_connection_killed_by_the_server_is_replaced_unseen(database_url: str) -> None:
    async def backend_then_kill(connection: AsyncConnection) -> int:
        pid = connection.info.backend_pid
        with psycopg.connect(libpq_url(database_url), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return pid

    # Pinging every connection handed out again: the dead one is noticed and replaced.
    first, second = asyncio.run(
        _through_pool(database_url, backend_then_kill, ping_after_idle_s=0.0)()
    )
    assert first != second
