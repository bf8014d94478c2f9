"""Fixtures for the queue tests: a private database and real `maira-sae worker` processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_sessionmaker
from db.jobs import get_job
from db.models import Job
from tests.support.workers import WorkerProcess, WorkerStarter


@pytest.fixture(scope="module")
def queue_url(make_database: Callable[[], str]) -> str:
    """A migrated database of this test module's own, visible to worker processes."""
    return make_database()


@pytest.fixture(scope="module")
def sessions(queue_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(queue_url)
    yield make_sessionmaker(engine)
    engine.dispose()


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
