"""`maira-sae worker`: serve queued jobs until SIGTERM or SIGINT.

Many workers on many machines may share one database (procrastinate claims entries with
SKIP LOCKED). Each runs up to `--concurrency` jobs in threads, loads its model once on first
use, beats a heartbeat per running job and for itself (the `workers` table) every
`job_heartbeat_s` and reaps jobs of dead workers
(see workers.queue.reaper). On SIGTERM/SIGINT it stops taking jobs and sets the runtime's
`stopping` flag (jobs that can stop early at a safe point watch it), lets running ones finish
for `worker_shutdown_grace_s`, then asks them to stop and re-queues them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket

from db.engine import make_engine, make_sessionmaker
from db.migrate import ready_database_url
from db.settings import Settings, get_settings
from workers.queue.app import app, connector_for
from workers.queue.handlers import load_handlers
from workers.queue.liveness import beat_forever, register
from workers.queue.reaper import entry_stale_after, reap_forever
from workers.queue.resources import Resources
from workers.queue.runtime import WorkerRuntime

log = logging.getLogger(__name__)


def worker_name() -> str:
    """host:pid, unique among the workers sharing a database."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def serve(url: str, settings: Settings, concurrency: int = 1) -> None:
    """Run a worker on the database at `url` until it is asked to stop."""
    name = worker_name()
    engine = make_engine(url, pool_size=2 * concurrency + 2)
    runtime = WorkerRuntime(
        name=name,
        sessions=make_sessionmaker(engine),
        settings=settings,
        resources=Resources(settings.model_path),
    )
    try:
        with app.replace_connector(connector_for(url, max_size=concurrency + 4)):
            async with app.open_async():
                reaper = asyncio.create_task(
                    reap_forever(
                        app, runtime.sessions, settings.job_stale_after_s, settings.job_heartbeat_s
                    ),
                    name="reaper",
                )
                await asyncio.to_thread(
                    register,
                    runtime.sessions,
                    name,
                    concurrency=concurrency,
                    stale_after_s=settings.job_stale_after_s,
                )
                heartbeat = asyncio.create_task(
                    beat_forever(
                        runtime.sessions,
                        name,
                        concurrency=concurrency,
                        stale_after_s=settings.job_stale_after_s,
                        interval_s=settings.job_heartbeat_s,
                    ),
                    name="heartbeat",
                )
                log.info("worker %s serving jobs (concurrency %d)", name, concurrency)
                serving = asyncio.create_task(
                    app.run_worker_async(
                        name=name,
                        install_signal_handlers=False,
                        concurrency=concurrency,
                        additional_context={"runtime": runtime},
                        fetch_job_polling_interval=settings.job_heartbeat_s,
                        abort_job_polling_interval=settings.job_heartbeat_s,
                        update_heartbeat_interval=settings.job_heartbeat_s,
                        stalled_worker_timeout=entry_stale_after(settings.job_stale_after_s),
                        shutdown_graceful_timeout=settings.worker_shutdown_grace_s,
                    )
                )
                _stop_on_signals(serving, runtime)
                try:
                    await serving
                except asyncio.CancelledError:
                    if not runtime.stopping.is_set():
                        raise
                finally:
                    reaper.cancel()
                    heartbeat.cancel()
                    await asyncio.gather(reaper, heartbeat, return_exceptions=True)
    finally:
        engine.dispose()
    log.info("worker %s stopped", name)


def _stop_on_signals(serving: asyncio.Task[None], runtime: WorkerRuntime) -> None:
    """SIGTERM and SIGINT flag the runtime as stopping, then stop procrastinate gracefully
    (cancelling its worker task is its documented way)."""

    def stop() -> None:
        if runtime.stopping.is_set():
            return
        log.info("stop requested")
        runtime.stopping.set()
        serving.cancel()

    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop)


def command(args: argparse.Namespace) -> int:
    """`maira-sae worker [--concurrency N] [--model PATH|tiny]`."""
    settings = get_settings()
    if args.model:
        settings = settings.model_copy(update={"model_path": args.model})
    load_handlers(settings.extra_handlers)
    asyncio.run(serve(ready_database_url(settings), settings, args.concurrency))
    return 0
