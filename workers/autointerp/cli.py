"""`maira-sae autointerp`: start a run through the same service as the API and the pages (queued
for workers, or run here with --local) or resume one; SIGTERM or SIGINT drains and stops it."""

from __future__ import annotations

import argparse
import signal
import threading
import uuid

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_sessionmaker, resolve_database_url
from db.models import AutointerpRun, Sae
from db.settings import Settings, get_settings
from workers.autointerp.job import RunStopped, run_batches
from workers.autointerp.request import AutointerpRunRequest, RunRejected, run_summary, start_run
from workers.autointerp.runs import batches, run_progress
from workers.console import say
from workers.kinds.autointerp import AutointerpParams


def _request(args: argparse.Namespace) -> AutointerpRunRequest:
    return AutointerpRunRequest(
        sae=args.sae,
        features=args.features,
        limit=args.limit,
        unlabelled=args.unlabelled,
        min_frequency=args.min_frequency,
        explainer=args.explainer,
        scorer=args.scorer,
        base_url=args.base_url,
        preset=args.preset,
        seed=args.seed,
        examples_per_prompt=args.examples_per_prompt,
        token_budget=args.token_budget,
        batch_size=args.batch_size,
    )


def command(args: argparse.Namespace) -> int:
    """Create (or resume) a run; print where its progress shows."""
    settings = get_settings()
    sessions = make_sessionmaker(make_engine(resolve_database_url(settings)))
    with sessions() as session:
        if args.resume:
            run = session.get(AutointerpRun, uuid.UUID(args.resume))
            sae = session.scalars(select(Sae).where(Sae.slug == args.sae)).first()
            if run is None or sae is None or run.sae_id != sae.id:
                say(f"No autointerp run {args.resume} of SAE {args.sae!r}.")
                return 2
        else:
            try:
                run_id = start_run(session, settings, _request(args), queue=not args.local)
            except ValidationError as error:
                say(f"Refused: {error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}")
                return 2
            except RunRejected as rejected:
                say(f"Refused: {rejected.message}")
                return 2
            run = session.get_one(AutointerpRun, run_id)
        summary = run_summary(session, run.id)
        assert summary is not None
        if summary["remote_warning"]:
            say(f"WARNING: {summary['remote_warning']}")
        say(f"Autointerp run {run.id}: {summary['n_features']} features of {summary['sae']}.")
        if not (args.local or args.resume):
            say(f"Queued for workers; progress: GET /api/v1/autointerp/runs/{run.id}")
            return 0
        work = batches(run, summary["sae"], args.batch_size)
    return _run_here(sessions, settings, run.id, work)


def _run_here(
    sessions: sessionmaker[Session],
    settings: Settings,
    run_id: uuid.UUID,
    work: list[AutointerpParams],
) -> int:
    """Run the batches in this process; SIGTERM or SIGINT drains the calls in flight and stops."""
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())

    def progress(done: int, total: int) -> None:
        say(f"  {done}/{total} features")

    try:
        result = run_batches(sessions, work, settings, progress=progress, should_stop=stop.is_set)
    except RunStopped:
        say(f"Stopped; the answers in flight were cached. Resume with --resume {run_id}.")
        return 1
    with sessions() as session:
        summary = run_progress(session, session.get_one(AutointerpRun, run_id))
    say(
        f"Done: {len(result.done)} explained and scored, {len(result.failed)} failed; "
        f"{summary['n_calls']} LLM calls ({summary['n_cached']} answered from the cache, "
        f"{summary['n_failed_calls']} failed), "
        f"{summary['prompt_tokens'] + summary['completion_tokens']} tokens."
    )
    return 0
