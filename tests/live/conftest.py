"""Fixtures for the live encode/steer tests: a database with a small random SAE imported by the
real `maira-sae import-sae`, a shared data folder (uploads, tiny model), a real `maira-sae worker
--model tiny` process, and the app in-process on the same database and folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from app.main import create_app
from db.engine import make_engine, make_sessionmaker
from db.jobs import get_job
from db.models import FINISHED_JOB_STATUSES, Job
from db.settings import Settings
from sae import MatryoshkaSae, save_sae
from tests.workers.queue.conftest import WorkerProcess, WorkerStarter
from workers.maira2.tiny import ensure_tiny_model

MAIRA_SAE = Path(sys.executable).with_name("maira-sae")
SAE_SLUG = "tiny-live"
D_SAE = 64
LABELLED = 8
"""Features 0..LABELLED-1 get a label ("tiny feature N")."""


@dataclass(frozen=True)
class LiveSetup:
    """One database and data folder shared by the app under test and the worker."""

    url: str
    home: Path
    d_model: int

    def settings(self, **overrides: object) -> Settings:
        """The app's settings; rate limits are set out of reach (tests/app/accounts tests them),
        since every test's client shares one address and the counts persist in the database."""
        return Settings(
            database_url=self.url,
            home=self.home,
            **{"rate_limit_per_window": 1_000_000, **overrides},
        )


def tiny_sae(d_in: int, seed: int = 0) -> MatryoshkaSae:
    """A random SAE with unit decoder rows, `W_enc = W_dec.T` and a positive threshold."""
    generator = torch.Generator().manual_seed(seed)
    sae = MatryoshkaSae(d_in, D_SAE, k=8, group_sizes=[16, D_SAE - 16], threshold=0.02)
    with torch.no_grad():
        decoder = torch.randn(D_SAE, d_in, generator=generator)
        sae.W_dec.copy_(decoder / decoder.norm(dim=1, keepdim=True))
        sae.W_enc.copy_(sae.W_dec.T)
    return sae


def prepare_live(url: str, home: Path) -> LiveSetup:
    """Put the tiny SAE (imported by the CLI, features 0..LABELLED-1 labelled) into the database
    at `url` and the tiny model where `--model tiny` looks for it under `home`."""
    folder = ensure_tiny_model(home / "models" / "tiny-maira2")
    d_model = int(json.loads((folder / "config.json").read_text())["text_config"]["hidden_size"])
    checkpoint = save_sae(tiny_sae(d_model), home / "saes" / SAE_SLUG)
    env = {**os.environ, "MAIRA_SAE_DATABASE_URL": url, "MAIRA_SAE_HOME": str(home)}
    command = [str(MAIRA_SAE), "import-sae", str(checkpoint), "--name", SAE_SLUG, "--model", "tiny"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE features SET label = 'tiny feature ' || index "
                "WHERE index < :n AND sae_id = (SELECT id FROM saes WHERE slug = :slug)"
            ),
            {"n": LABELLED, "slug": SAE_SLUG},
        )
    engine.dispose()
    return LiveSetup(url=url, home=home, d_model=d_model)


@pytest.fixture(scope="session")
def live_setup(
    make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> LiveSetup:
    """A fresh database holding the tiny SAE and a data folder with the tiny model built."""
    return prepare_live(make_database(), tmp_path_factory.mktemp("live-home"))


@pytest.fixture(scope="session")
def live_sessions(live_setup: LiveSetup) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(live_setup.url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def live_worker(
    live_setup: LiveSetup, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """`maira-sae worker` on the tiny model, two jobs at a time, for the whole session."""
    starter = WorkerStarter(live_setup.url, tmp_path_factory.mktemp("live-workers"))
    yield starter.start(concurrency=2, home=str(live_setup.home), model_path="tiny")
    starter.close()


@pytest.fixture
def live_client(live_setup: LiveSetup) -> Iterator[TestClient]:
    """The app in-process (lifespan run) on the live database and data folder."""
    with TestClient(create_app(live_setup.settings()), follow_redirects=False) as client:
        yield client


@pytest.fixture
def wait_job(live_sessions: sessionmaker[Session]) -> Callable[..., Job]:
    """Poll a job until it has finished; fails with its state after `timeout` seconds."""

    def wait(job_id: object, timeout: float = 90.0) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            with live_sessions() as session:
                job = get_job(session, str(job_id))
            assert job is not None
            if job.status in FINISHED_JOB_STATUSES:
                return job
            if time.monotonic() > deadline:
                pytest.fail(f"job {job.id} stuck: {job.status} {job.progress} {job.error}")
            time.sleep(0.1)

    return wait
