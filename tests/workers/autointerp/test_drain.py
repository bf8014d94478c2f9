"""A worker stopped with SIGTERM mid-run drains: it starts no new LLM call, caches the answers in
flight and re-queues its job, so the restarted run pays no call twice (counted at the stand-in)."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from db.models import AutointerpRun, AutointerpRunFeature, Job
from tests.support.autointerp import KEYWORDS, standin_server, standin_stats
from tests.support.workers import WorkerStarter
from tests.workers.autointerp.conftest import keyword_sae
from workers.autointerp.config import AutointerpConfig
from workers.autointerp.runs import create_run, select_features

LLM = {"llm_concurrency": "8"}


def test_a_worker_stopped_by_sigterm_restarts_without_paying_any_call_twice(
    keyword_db, tmp_path
) -> None:
    url, sessions = keyword_db
    with standin_server() as base_url:
        with sessions() as session:
            sae = keyword_sae(session)
            config = AutointerpConfig(
                explainer="stand-in:fail-slow", scorer="stand-in:fail-slow", base_url=base_url
            )
            run_id = create_run(
                session, sae, config, select_features(session, sae), batch_size=6
            ).id
        starter = WorkerStarter(url, tmp_path)
        try:
            first = starter.start(**LLM)
            deadline = time.monotonic() + 120
            while standin_stats(base_url)["answered"] < 30:  # midway through the first batch
                assert time.monotonic() < deadline, first.log()[-2000:]
                time.sleep(0.02)
            before = standin_stats(base_url)["answered"]
            assert first.stop() == 0, first.log()[-2000:]
            stopped = standin_stats(base_url)
            # it started no new call: only those in flight (8) or begun before it saw the signal
            assert stopped["answered"] - before <= 3 * int(LLM["llm_concurrency"])
            with sessions() as session:
                finished = session.scalar(select(func.count()).select_from(AutointerpRunFeature))
                statuses = sorted(
                    session.scalars(select(Job.status).where(Job.kind == "autointerp"))
                )
            assert finished < len(KEYWORDS)
            assert statuses == ["queued", "queued"]  # the stopped job is back in the queue
            assert "re-queued" in first.log()
            second = starter.start(**LLM)
            while True:
                with sessions() as session:
                    run = session.get_one(AutointerpRun, run_id)
                    if run.status == "done":
                        break
                assert time.monotonic() < deadline, second.log()[-2000:]
                time.sleep(0.1)
            stats = standin_stats(base_url)
        finally:
            starter.close()
    with sessions() as session:
        done = session.scalar(
            select(func.count())
            .select_from(AutointerpRunFeature)
            .where(AutointerpRunFeature.status == "done")
        )
        run = session.get_one(AutointerpRun, run_id)
    assert done == len(KEYWORDS)
    assert stats["answered"] > stopped["answered"] >= 30
    # every answer that arrived before the stop was cached and served from the cache after it
    assert run.n_cached >= stopped["answered"]
    assert max(stats["answered_by_prompt"].values()) == 1
