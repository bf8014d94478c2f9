"""The demo's LLM labels: the stand-in LLM explains and scores some of the demo SAE's features,
so a new user sees `llm` labels with scores, intervals and per-example verdicts (named as the
stand-in's wherever they appear)."""

from __future__ import annotations

from sqlalchemy import Engine

from db.engine import make_sessionmaker
from db.models import AutointerpRun
from db.settings import Settings
from workers.autointerp.job import run_batches
from workers.autointerp.request import AutointerpRunRequest, RunRejected, start_run
from workers.autointerp.runs import batches
from workers.autointerp.standin import DEFAULT_MODEL, serve_in_thread
from workers.console import stage

DEMO_FEATURES = 32


def label_with_standin(engine: Engine, slug: str, n_features: int = DEMO_FEATURES) -> int:
    """Run autointerp with the stand-in on the SAE's first `n_features` features that have
    examples; returns how many got an explanation."""
    sessions = make_sessionmaker(engine)
    settings = Settings()
    with serve_in_thread() as base_url, sessions() as session:
        request = AutointerpRunRequest(
            sae=slug,
            explainer=DEFAULT_MODEL,
            scorer=DEFAULT_MODEL,
            base_url=base_url,
            limit=n_features,
        )
        try:
            run_id = start_run(session, settings, request, queue=False)
        except RunRejected:
            return 0
        run = session.get_one(AutointerpRun, run_id)
        work = batches(run, slug, request.batch_size)
        with stage("llm labels", len(run.feature_indices), "feature") as bar:

            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)

            result = run_batches(sessions, work, settings, progress=progress)
    return len(result.done)
