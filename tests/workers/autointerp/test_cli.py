"""`maira-sae autointerp` on the command line: off-site endpoints are named and refused."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import func, select, update

from db.models import AutointerpRun, Feature, Job
from tests.support.workers import REPO


def _cli(url: str, base_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "autointerp", "--sae", "kw", "--explainer", "stand-in",
         "--scorer", "stand-in", "--base-url", base_url, *(args or ("--features", "0-1"))],
        env={**os.environ, "PYTHONPATH": str(REPO), "MAIRA_SAE_DATABASE_URL": url, **env},
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_an_off_site_endpoint_is_refused_with_a_plain_warning(keyword_db) -> None:
    url, _ = keyword_db
    refused = _cli(url, "http://8.8.8.8/v1")
    assert refused.returncode == 2
    assert "report text sent for autointerp would leave the site" in refused.stdout
    allowed = _cli(url, "http://8.8.8.8/v1", MAIRA_SAE_LLM_ALLOW_REMOTE="true")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "WARNING" in allowed.stdout and "Queued for workers" in allowed.stdout


def test_the_command_line_starts_runs_through_the_service_with_its_filters(keyword_db) -> None:
    url, sessions = keyword_db
    with sessions() as session:
        session.execute(update(Feature).where(Feature.index.in_([0, 4])).values(frequency=0.3))
        session.commit()
    result = _cli(url, "http://127.0.0.1:9/v1", "--min-frequency", "0.1", "--batch-size", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 features of kw" in result.stdout
    with sessions() as session:
        run = session.scalars(select(AutointerpRun)).one()
        jobs = session.scalar(select(func.count()).select_from(Job).where(Job.kind == "autointerp"))
    assert run.feature_indices == [0, 4] and jobs == 2
    refused = _cli(url, "http://127.0.0.1:9/v1", "--min-frequency", "2")
    assert refused.returncode == 2 and "min_frequency" in refused.stdout


def test_a_local_endpoint_queues_without_a_warning(keyword_db) -> None:
    url, _ = keyword_db
    result = _cli(url, "http://127.0.0.1:9/v1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout and "2 features of kw" in result.stdout
