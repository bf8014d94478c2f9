"""`maira-sae autointerp`: start a run (queued for workers, or here with --local) or resume one."""

from __future__ import annotations

import argparse
import logging
import uuid

from sqlalchemy import select

from db.engine import make_engine, make_sessionmaker, resolve_database_url
from db.models import AutointerpRun, Sae
from db.settings import get_settings
from workers.autointerp.config import with_preset
from workers.autointerp.endpoint import EndpointRefused, check_endpoint, endpoint_from_settings
from workers.autointerp.job import run_batches
from workers.autointerp.runs import (
    RunRequestError,
    batches,
    create_run,
    run_progress,
    select_features,
)
from workers.console import say

log = logging.getLogger(__name__)


def command(args: argparse.Namespace) -> int:
    """Create (or resume) a run; print where its progress shows."""
    settings = get_settings()
    endpoint = endpoint_from_settings(settings, args.base_url)
    try:
        warning = check_endpoint(endpoint, allow_remote=settings.llm_allow_remote)
    except EndpointRefused as error:
        say(f"Refused: {error}")
        return 2
    if warning:
        say(f"WARNING: {warning}")
    sessions = make_sessionmaker(make_engine(resolve_database_url(settings)))
    with sessions() as session:
        sae = session.scalars(select(Sae).where(Sae.slug == args.sae)).first()
        if sae is None:
            say(f"No SAE named {args.sae!r}.")
            return 2
        if args.resume:
            run = session.get(AutointerpRun, uuid.UUID(args.resume))
            if run is None or run.sae_id != sae.id:
                say(f"No autointerp run {args.resume} of SAE {args.sae!r}.")
                return 2
        else:
            config = with_preset(
                args.preset,
                explainer=args.explainer,
                scorer=args.scorer,
                base_url=endpoint.base_url,
                endpoint_kind=endpoint.kind,
                seed=args.seed,
                examples_per_prompt=args.examples_per_prompt,
                token_budget=args.token_budget,
            )
            try:
                indices = select_features(
                    session,
                    sae,
                    indices=args.features,
                    limit=args.limit,
                    unlabelled=args.unlabelled,
                    min_frequency=args.min_frequency,
                )
                run = create_run(
                    session, sae, config, indices, batch_size=args.batch_size, queue=not args.local
                )
            except RunRequestError as error:
                say(f"Nothing to do: {error}")
                return 2
        say(f"Autointerp run {run.id}: {len(run.feature_indices)} features of {sae.slug}.")
        if not (args.local or args.resume):
            say(f"Queued for workers; progress: GET /api/v1/autointerp/runs/{run.id}")
            return 0
        work = batches(run, sae.slug, args.batch_size)

    def progress(done: int, total: int) -> None:
        say(f"  {done}/{total} features")

    result = run_batches(sessions, work, settings, progress=progress)
    with sessions() as session:
        summary = run_progress(session, session.get_one(AutointerpRun, run.id))
    say(
        f"Done: {len(result.done)} explained and scored, {len(result.failed)} failed; "
        f"{summary['n_calls']} LLM calls ({summary['n_cached']} answered from the cache, "
        f"{summary['n_failed_calls']} failed), "
        f"{summary['prompt_tokens'] + summary['completion_tokens']} tokens."
    )
    return 0
