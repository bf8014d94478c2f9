"""The web app's asyncio pool of autocommit psycopg connections: its hottest reads run their
read plans on the event loop, with no thread-pool hop and no BEGIN or ROLLBACK round trips."""

from __future__ import annotations

import time
import weakref
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from db.driver import Batch, ReadPlan, T, driver_sql
from db.engine import libpq_url


class _IdlePinger:
    """Pings a connection handed out again after sitting unused `idle_s` seconds, as the web
    engine does (`db.engine`): a connection returned moments ago was alive then; one the
    server closed while idle fails the check and the pool replaces it."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self.returned_at: weakref.WeakKeyDictionary[AsyncConnection, float] = (
            weakref.WeakKeyDictionary()
        )

    async def check(self, connection: AsyncConnection) -> None:
        returned_at = self.returned_at.get(connection)
        if returned_at is not None and time.monotonic() - returned_at >= self.idle_s:
            await connection.execute("SELECT 1")

    async def returned(self, connection: AsyncConnection) -> None:
        self.returned_at[connection] = time.monotonic()


def make_read_pool(
    url: str, *, size: int, timeout_s: float, ping_after_idle_s: float
) -> AsyncConnectionPool:
    """An unopened pool of at most `size` autocommit connections to `url` (a SQLAlchemy URL);
    a request waits at most `timeout_s` for one (then `psycopg_pool.PoolTimeout`)."""
    pinger = _IdlePinger(ping_after_idle_s)
    return AsyncConnectionPool(
        libpq_url(url),
        kwargs={"autocommit": True},
        min_size=1,
        max_size=size,
        timeout=timeout_s,
        check=pinger.check,
        reset=pinger.returned,
        open=False,
        name="reads",
    )


async def run_plan_async(connection: AsyncConnection, plan: ReadPlan[T]) -> T:
    """The result of `plan`, its batches run on an asyncio psycopg connection (see
    `db.driver.ReadPlan`)."""
    try:
        batch = next(plan)
        while True:
            batch = plan.send(await _run_batch(connection, batch))
    except StopIteration as finished:
        return finished.value


async def _run_batch(connection: AsyncConnection, batch: Batch) -> list[list[Any]]:
    cursors = [connection.cursor(row_factory=query.row_factory) for query in batch]
    try:
        if len(batch) == 1:
            await cursors[0].execute(driver_sql(batch[0].clause), batch[0].params)
        else:
            async with connection.pipeline():
                for cursor, query in zip(cursors, batch, strict=True):
                    await cursor.execute(driver_sql(query.clause), query.params)
        return [await cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            await cursor.close()
