"""The embedded PostgreSQL default: a private server (PyPI `pgserver`) under the data folder."""

from __future__ import annotations

import logging
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
