"""`maira-sae serve`: run the web application under uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from db.settings import get_settings


def command(args: argparse.Namespace) -> int:
    """Serve pages and the JSON API on --host/--port (defaults from the settings)."""
    settings = get_settings()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        proxy_headers=True,
        log_level="info",
    )
    return 0
