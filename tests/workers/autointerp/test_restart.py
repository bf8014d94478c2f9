"""A run killed midway (SIGKILL) and restarted pays for no LLM call twice (counted at the
stand-in), except the calls in flight at the moment of the kill, whose answers never reached the
cache; one stopped with SIGTERM drains those first, so its resume pays none twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from db.models import AutointerpRun, AutointerpRunFeature
from tests.support.autointerp import KEYWORDS, standin_server, standin_stats
from tests.support.workers import REPO

BATCH = 4
CONCURRENCY = 8


def _autointerp(url: str, base_url: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MAIRA_SAE_DATABASE_URL": url,
        "MAIRA_SAE_LLM_CONCURRENCY": str(CONCURRENCY),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "autointerp", "--sae", "kw", "--explainer",
         "stand-in:fail-slow", "--scorer", "stand-in:fail-slow", "--base-url", base_url,
         "--batch-size", str(BATCH), *extra],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_a_killed_run_restarts_without_paying_any_call_twice(keyword_db) -> None:
    url, sessions = keyword_db
    with standin_server() as base_url:
        first = _autointerp(url, base_url, "--local")
        deadline = time.monotonic() + 120
        finished = 0
        while finished < BATCH:  # the first batch is stored
            assert first.poll() is None, first.stdout.read().decode()
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
            with sessions() as session:
                finished = session.scalar(select(func.count()).select_from(AutointerpRunFeature))
        answered = standin_stats(base_url)["answered"]
        while standin_stats(base_url)["answered"] < answered + 20:  # midway through the second
            assert first.poll() is None, first.stdout.read().decode()
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        with sessions() as session:
            run = session.scalars(select(AutointerpRun)).one()
            assert run.status == "running"
        killed_stats = standin_stats(base_url)
        second = _autointerp(url, base_url, "--resume", str(run.id))
        output = second.communicate(timeout=180)[0].decode()
        assert second.returncode == 0, output
        stats = standin_stats(base_url)
    with sessions() as session:
        run = session.get_one(AutointerpRun, run.id)
        done = session.scalar(
            select(func.count())
            .select_from(AutointerpRunFeature)
            .where(AutointerpRunFeature.status == "done")
        )
    assert run.status == "done" and done == len(KEYWORDS)
    assert stats["answered"] > killed_stats["answered"] > 0
    # the second batch's answers stored before the kill came from the cache ...
    assert run.n_cached >= 10
    # ... and only calls in flight at the kill (at most the concurrency) were paid twice
    twice = [n for n in stats["answered_by_prompt"].values() if n > 1]
    assert max(twice, default=2) == 2
    assert len(twice) <= CONCURRENCY


def test_sigterm_drains_a_local_run_so_its_resume_pays_no_call_twice(keyword_db) -> None:
    url, sessions = keyword_db
    with standin_server() as base_url:
        first = _autointerp(url, base_url, "--local")
        deadline = time.monotonic() + 120
        while standin_stats(base_url)["answered"] < 30:
            assert first.poll() is None, first.stdout.read().decode()
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.02)
        first.send_signal(signal.SIGTERM)
        output = first.communicate(timeout=30)[0].decode()
        assert first.returncode == 1 and "Stopped" in output, output
        with sessions() as session:
            run = session.scalars(select(AutointerpRun)).one()
        second = _autointerp(url, base_url, "--resume", str(run.id))
        output = second.communicate(timeout=180)[0].decode()
        assert second.returncode == 0, output
        stats = standin_stats(base_url)
    with sessions() as session:
        assert session.get_one(AutointerpRun, run.id).status == "done"
    assert max(stats["answered_by_prompt"].values()) == 1
