"""Fixtures for the queue tests: a private database and real `maira-sae worker` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_sessionmaker
from db.jobs import get_job
from db.models import Job

REPO = Path(__file__).resolve().parents[3]
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


@pytest.fixture(scope="module")
def queue_url(make_database: Callable[[], str]) -> str:
    """A migrated database of this test module's own, visible to worker processes."""
    return make_database()


@pytest.fixture(scope="module")
def sessions(queue_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(queue_url)
    yield make_sessionmaker(engine)
    engine.dispose()


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


@pytest.fixture(scope="module")
def module_workers(
    queue_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerStarter]:
    """Workers that live for the whole test module."""
    starter = WorkerStarter(queue_url, tmp_path_factory.mktemp("workers"))
    yield starter
    starter.close()


@pytest.fixture
def start_worker(queue_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: start a worker for this test only (killed when the test ends)."""
    starter = WorkerStarter(queue_url, tmp_path)
    yield starter.start
    starter.close()


@pytest.fixture(scope="module")
def wait_for(sessions: sessionmaker[Session]) -> Callable[..., Job]:
    """Poll a job until `predicate(job)` holds; fails with the job's state after `timeout`."""

    def wait(job_id: object, predicate: Callable[[Job], bool], timeout: float = 10.0) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            with sessions() as session:
                job = get_job(session, str(job_id))
            assert job is not None
            if predicate(job):
                return job
            if time.monotonic() > deadline:
                pytest.fail(f"job {job.id} stuck: {job.status} {job.progress} {job.error}")
            time.sleep(0.05)

    return wait
