"""The embedded PostgreSQL default: a private server (PyPI `pgserver`) under the data folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def start_embedded_postgres(home: Path) -> str:
    """Start (or reuse) the private server whose data lives in `home/postgres`; return its URL."""
    import pgserver  # imported lazily: only the embedded default needs it

    home.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(home / "postgres", cleanup_mode=None)
    uri = server.get_uri()
    log.info("embedded PostgreSQL at %s", uri)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


def embedded_postgres_running(home: Path) -> bool:
    """True when the private server under `home/postgres` has a live postmaster."""
    pid_file = home / "postgres" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def stop_embedded_postgres(home: Path) -> bool:
    """Stop the private server under `home/postgres` (fast shutdown); False if none was running."""
    import pgserver

    if not embedded_postgres_running(home):
        return False
    # pgserver runs the server as its own `pgserver` user when we are root; pg_ctl must match.
    user = "pgserver" if os.geteuid() == 0 else None
    pgserver.pg_ctl(["-m", "fast", "-w", "stop"], pgdata=(home / "postgres").resolve(), user=user)
    log.info("embedded PostgreSQL under %s stopped", home)
    return True
