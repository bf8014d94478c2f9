"""The demo's LLM labels: the stand-in LLM explains and scores some of the demo SAE's features,
so a new user sees `llm` labels with scores, intervals and per-example verdicts (named as the
stand-in's wherever they appear)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from db.engine import make_sessionmaker
from db.models import Sae
from db.settings import Settings
from workers.autointerp.config import AutointerpConfig
from workers.autointerp.job import run_batches
from workers.autointerp.runs import batches, create_run, select_features
from workers.autointerp.standin import DEFAULT_MODEL, serve_in_thread
from workers.console import stage

DEMO_FEATURES = 32


def label_with_standin(engine: Engine, slug: str, n_features: int = DEMO_FEATURES) -> int:
    """Run autointerp with the stand-in on the SAE's first `n_features` features that have
    examples; returns how many got an explanation."""
    sessions = make_sessionmaker(engine)
    with serve_in_thread() as base_url, sessions() as session:
        sae = session.scalars(select(Sae).where(Sae.slug == slug)).one()
        indices = select_features(session, sae, limit=n_features)
        if not indices:
            return 0
        config = AutointerpConfig(explainer=DEFAULT_MODEL, scorer=DEFAULT_MODEL, base_url=base_url)
        run = create_run(session, sae, config, indices, queue=False)
        work = batches(run, slug)
        with stage("llm labels", len(indices), "feature") as bar:

            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)

            result = run_batches(sessions, work, Settings(), progress=progress)
    return len(result.done)
