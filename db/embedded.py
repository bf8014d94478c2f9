"""The embedded PostgreSQL default: a private server (PyPI `pgserver`) under the data folder."""

from __future__ import annotations

import logging
import os
import signal
import time
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


def _postmaster_pid(home: Path) -> int | None:
    """The pid of the live postmaster serving `home/postgres`, or None."""
    try:
        pid = int((home / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def embedded_postgres_running(home: Path) -> bool:
    """True when the private server under `home/postgres` has a live postmaster."""
    return _postmaster_pid(home) is not None


def stop_embedded_postgres(home: Path, timeout_s: float = 30.0) -> bool:
    """Stop the private server under `home/postgres`; False if none was running.

    A signal to the postmaster (SIGINT: PostgreSQL's fast shutdown) rather than `pg_ctl stop`,
    which would have to run as pgserver's own user and reach the data folder as that user;
    SIGQUIT (immediate shutdown) follows if it has not exited after `timeout_s`.
    """
    pid = _postmaster_pid(home)
    if pid is None:
        return False
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    while _postmaster_pid(home) == pid:
        if time.monotonic() > deadline:
            log.warning("embedded PostgreSQL %d ignored a fast shutdown; stopping it now", pid)
            os.kill(pid, signal.SIGQUIT)
            break
        time.sleep(0.1)
    log.info("embedded PostgreSQL under %s stopped", home)
    return True
