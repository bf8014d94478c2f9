"""`maira-sae serve`: run the web application under uvicorn, in one process or several."""

from __future__ import annotations

import argparse
import os

import uvicorn

from db.engine import resolve_database_url
from db.settings import get_settings


def command(args: argparse.Namespace) -> int:
    """Serve pages and the JSON API on --host/--port with --workers processes.

    Each process has its own pool of `db_pool_size` connections and admits as many database
    requests at once (app/admission.py), plus `db_read_pool_size` connections for the reads it
    runs on the event loop (db/read_pool.py). With several processes and no configured database, the
    embedded server is started here, once, and its URL handed to every process; each process
    migrates at start-up under an advisory lock (db/migrate.py), so they never race.
    """
    settings = get_settings()
    workers = args.workers or settings.web_workers
    if workers > 1 and not settings.database_url:
        os.environ["MAIRA_SAE_DATABASE_URL"] = resolve_database_url(settings)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
    )
    return 0
