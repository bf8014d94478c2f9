"""Real `maira-sae serve` subprocesses for tests, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(
    database_url: str,
    log_path: Path,
    *args: str,
    ready_timeout_s: float = 30.0,
    **settings: object,
) -> Iterator[str]:
    """Run `maira-sae serve ARGS` on `database_url` and yield its base URL once it answers.

    `settings` set MAIRA_SAE_* variables (`db_pool_size=2` sets MAIRA_SAE_DB_POOL_SIZE); the
    server's output goes to `log_path`. The server is terminated on exit.
    """
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MAIRA_SAE_DATABASE_URL": database_url,
        **{f"MAIRA_SAE_{name.upper()}": str(value) for name, value in settings.items()},
    }
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, *args], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout_s
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{base_url}/static/app.css", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {ready_timeout_s:.0f} s")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
