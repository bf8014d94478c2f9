"""The newcomer's path: a fresh clone and a fresh MAIRA_SAE_HOME, the README's demo command on a
small corpus, its first feature page, a quiet terminal, and Ctrl+C leaving nothing running.

The clone shares this checkout's virtual environment (its code is imported from the clone: the
commands run with the clone as working directory) and builds the demo on its own embedded
PostgreSQL, as `make demo` does on a new machine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from db.embedded import embedded_postgres_running

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"^ready: (http://\S+)")
START_DEADLINE_S = 300


@dataclass
class Demo:
    """A running `maira-sae demo` and what it printed so far."""

    process: subprocess.Popen[str]
    home: Path
    clone: Path
    stdout: list[str] = field(default_factory=list)
    url: str | None = None
    worker_pid: int | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """postgres processes serving `pgdata`."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and any(str(pgdata) in part for part in cmdline):
            found.append(process)
    return found


def _demo_command() -> list[str]:
    """The README's demo command (`make demo` runs `.venv/bin/maira-sae demo`)."""
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in readme and "--port" in readme
    (line,) = [line for line in makefile.splitlines() if "maira-sae demo" in line]
    assert line.strip() == ".venv/bin/maira-sae demo"
    return [sys.executable, "-m", "app.cli", "demo"]


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    # Not under pytest's own temporary folder: a concurrent pytest session may make that private
    # again while the embedded server (run as pgserver's own user when we are root) needs it.
    base = Path(tempfile.mkdtemp(prefix="maira-newcomer-"))
    clone = base / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    home = base / "home"
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("MAIRA_SAE_")
    }
    environment |= {"MAIRA_SAE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    command = [*_demo_command(), "--limit", "60", "--steps", "60", "--model-steps", "10"]
    command += ["--port", str(port)]
    process = subprocess.Popen(
        command,
        cwd=clone,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # progress bars
        text=True,
    )
    running = Demo(process, home, clone)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.stdout.append(line.rstrip("\n"))
            if match := READY.match(line):
                running.url = match.group(1)
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        ready.wait(START_DEADLINE_S)
        assert running.url, f"the demo never said ready: {running.stdout}"
        (worker,) = psutil.Process(process.pid).children()
        assert "worker" in worker.cmdline()
        running.worker_pid = worker.pid
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for leftover in _postgres_processes(home / "postgres"):
            leftover.kill()
        shutil.rmtree(base, ignore_errors=True)


def test_the_demo_serves_its_first_feature_page_quietly(demo: Demo) -> None:
    home = httpx.get(demo.url, timeout=10)
    assert home.status_code == 200 and 'href="/saes/demo"' in home.text
    listing = httpx.get(f"{demo.url}/api/v1/saes/demo/features?limit=1", timeout=10).json()
    first = listing["data"][0]["index"]
    page = httpx.get(f"{demo.url}/saes/demo/features/{first}", timeout=10)
    assert page.status_code == 200
    assert "Top activations" in page.text and "<!doctype html>" in page.text

    # the embedded server ships pg_trgm, so a misspelled label word still finds its feature
    labelled = httpx.get(f"{demo.url}/api/v1/saes/demo/features?limit=50", timeout=10).json()
    words = [
        word
        for row in labelled["data"]
        for word in re.findall(r"[a-z]{7,}", (row["label"] or "").removeprefix("keywords: "))
    ]
    assert words, labelled
    word = max(words, key=len)  # the longest word: one dropped letter leaves most trigrams
    misspelled = word[: len(word) // 2] + word[len(word) // 2 + 1 :]
    found = httpx.get(f"{demo.url}/api/v1/search", params={"q": misspelled}, timeout=10).json()
    assert any(word in hit["text"] for hit in found["data"]), (misspelled, found)

    # the terminal: a handful of plain lines, the database noise in the log file instead
    log_file = demo.home.resolve() / "logs" / "demo.log"
    assert demo.stdout[0] == f"maira-sae demo: details are logged to {log_file}"
    assert len(demo.stdout) <= 10, demo.stdout
    assert not any("INFO" in line or "alembic" in line for line in demo.stdout)
    assert "app.main: database ready" in log_file.read_text()
    assert embedded_postgres_running(demo.home)


def test_ctrl_c_stops_the_demo_and_its_database(demo: Demo) -> None:
    pgdata = (demo.home / "postgres").resolve()
    assert _postgres_processes(pgdata), "the embedded PostgreSQL should be running"
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(timeout=60) == 130
    deadline = time.monotonic() + 10
    while _postgres_processes(pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _postgres_processes(pgdata) == []
    assert not embedded_postgres_running(demo.home)
    assert demo.stdout[-1] == "stopped the embedded PostgreSQL"
    assert demo.worker_pid is not None and not psutil.pid_exists(demo.worker_pid)
