"""The worker's own heartbeat (the `workers` table), so pages can say whether any worker is up."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.orm import Session, sessionmaker

from db import workers as worker_table
from workers.queue.execution import INFRASTRUCTURE_ERRORS, describe

log = logging.getLogger(__name__)


def register(
    sessions: sessionmaker[Session], name: str, *, concurrency: int, stale_after_s: float
) -> None:
    """Add this worker's row (before it serves jobs, so it counts as alive from the start)."""
    with sessions() as session:
        worker_table.register_worker(session, name, concurrency, stale_after_s)


async def beat_forever(
    sessions: sessionmaker[Session],
    name: str,
    *,
    concurrency: int,
    stale_after_s: float,
    interval_s: float,
) -> None:
    """Beat every `interval_s` until cancelled (re-registering if the row vanished); the row is
    removed when the worker stops (a killed worker's row just goes stale)."""

    def beat() -> None:
        with sessions() as session:
            if not worker_table.beat(session, name):
                worker_table.register_worker(session, name, concurrency, stale_after_s)

    def unregister() -> None:
        with sessions() as session:
            worker_table.unregister_worker(session, name)

    try:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(beat)
            except INFRASTRUCTURE_ERRORS as exc:
                log.warning("worker heartbeat failed: %s", describe(exc))
    finally:
        try:
            await asyncio.to_thread(unregister)
        except INFRASTRUCTURE_ERRORS as exc:
            log.warning("could not remove this worker's row: %s", describe(exc))
