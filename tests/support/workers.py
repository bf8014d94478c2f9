"""Real `maira-sae worker` subprocesses for tests, with the test job handlers loaded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAIRA_SAE = Path(sys.executable).with_name("maira-sae")

# Short intervals keep the tests quick; the production defaults are 2 s and 6 s.
HEARTBEAT_S = 0.3
STALE_AFTER_S = 1.5
READY_TIMEOUT_S = 30.0


@dataclass
class WorkerProcess:
    """A running `maira-sae worker` subprocess and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def name(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


class WorkerStarter:
    """Starts workers (test handlers loaded) on one database and kills leftovers on close."""

    def __init__(self, url: str, log_dir: Path) -> None:
        self.url = url
        self.log_dir = log_dir
        self.started: list[WorkerProcess] = []

    def start(self, concurrency: int = 1, **settings: str) -> WorkerProcess:
        """Start a worker and wait until it serves jobs; `settings` override MAIRA_SAE_*."""
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "MAIRA_SAE_DATABASE_URL": self.url,
            "MAIRA_SAE_EXTRA_HANDLERS": "tests.support.queue_handlers",
            "MAIRA_SAE_JOB_HEARTBEAT_S": str(HEARTBEAT_S),
            "MAIRA_SAE_JOB_STALE_AFTER_S": str(STALE_AFTER_S),
            "MAIRA_SAE_WORKER_SHUTDOWN_GRACE_S": "1",
            **{f"MAIRA_SAE_{key.upper()}": value for key, value in settings.items()},
        }
        log_path = self.log_dir / f"worker-{len(self.started)}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [str(MAIRA_SAE), "worker", "--concurrency", str(concurrency)],
                cwd=REPO,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(process, log_path)
        self.started.append(worker)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "serving jobs" not in worker.log():
            if process.poll() is not None or time.monotonic() > deadline:
                worker.stop(signal.SIGKILL)
                pytest.fail(f"worker did not start:\n{worker.log()}")
            time.sleep(0.05)
        return worker

    def close(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
        self.started.clear()
