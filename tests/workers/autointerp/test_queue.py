"""An autointerp run split into queue jobs is finished by several real worker processes."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from db.models import AutointerpRun, Job
from tests.support.autointerp import KEYWORDS, standin_stats
from tests.support.workers import WorkerStarter
from tests.workers.autointerp.conftest import keyword_sae
from workers.autointerp.config import AutointerpConfig
from workers.autointerp.runs import create_run, run_progress, select_features


def test_two_workers_share_a_run_and_finish_it(standin, keyword_db, tmp_path) -> None:
    url, sessions = keyword_db
    with sessions() as session:
        sae = keyword_sae(session)
        config = AutointerpConfig(
            explainer="stand-in:fail-slow", scorer="stand-in:fail-slow", base_url=standin
        )
        run = create_run(session, sae, config, select_features(session, sae), batch_size=3)
        run_id = run.id
    before = standin_stats(standin)["answered"]
    starter = WorkerStarter(url, tmp_path)
    try:
        workers = [starter.start(), starter.start()]
        deadline = time.monotonic() + 120
        while True:
            with sessions() as session:
                run = session.get_one(AutointerpRun, run_id)
                if run.status == "done":
                    break
            assert time.monotonic() < deadline, [w.log()[-2000:] for w in workers]
            time.sleep(0.2)
        with sessions() as session:
            progress = run_progress(session, run)
            jobs = session.execute(
                select(Job.status, Job.worker).where(Job.kind == "autointerp")
            ).all()
            n_jobs = session.scalar(select(func.count()).select_from(Job))
    finally:
        starter.close()
    assert progress["n_done"] == len(KEYWORDS)
    assert n_jobs == 4 and {status for status, _ in jobs} == {"succeeded"}
    assert len({worker for _, worker in jobs}) == 2  # both workers took batches
    assert standin_stats(standin)["answered"] > before
