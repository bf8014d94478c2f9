"""Running an autointerp run's batches: the `autointerp` queue job, and the in-process runner the
command line uses. Features the run already finished are skipped, and every LLM answer comes
from the response cache when it was paid for before, so a stopped run restarts for free.

Stopping (SIGTERM or SIGINT to a worker or to `maira-sae autointerp --local`) drains: no new call
starts, the calls in flight are awaited (at most `worker_shutdown_grace_s`) and their answers
cached, then the run stops with its unfinished features left for a restart. Only a SIGKILL, or a
call outliving the grace, can make a restart pay again: at most `llm_concurrency` calls."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from db.aggregates import refresh_sae_aggregates
from db.labels import refresh_primary_labels
from db.models import AutointerpRun, Sae
from db.settings import Settings, get_settings
from workers.autointerp.client import CallsStopped, LlmClient
from workers.autointerp.config import AutointerpConfig
from workers.autointerp.endpoint import Endpoint, EndpointRefused, check_endpoint
from workers.autointerp.examples import FeatureWindows, load_feature_windows
from workers.autointerp.pipeline import FeatureOutcome, run_batch
from workers.autointerp.runs import finished_indices, mark_done_if_finished, mark_started
from workers.autointerp.store import store_outcome
from workers.kinds.autointerp import AutointerpParams, AutointerpResult
from workers.queue.context import JobContext, JobFailed

log = logging.getLogger(__name__)

STOP_POLL_S = 0.1
_OTHER_LABELS = text(
    """
    SELECT f.index, e.text FROM explanations AS e JOIN features AS f ON f.id = e.feature_id
    WHERE f.sae_id = :sae_id ORDER BY e.id LIMIT 20
    """
)


class RunStopped(Exception):
    """The run was asked to stop; what was in flight is cached, the rest is left for a restart."""


def autointerp(ctx: JobContext, params: AutointerpParams) -> AutointerpResult:
    """The queue handler: explain and score one batch of a run; on a worker shutdown or a
    cancel it drains its calls and stops (a shutdown re-queues it)."""
    settings = ctx.runtime.settings

    def progress(done: int, total: int) -> None:
        ctx.raise_if_cancelled()
        ctx.report_progress(done / total, f"{done} of {total} features")

    try:
        return run_batches(
            ctx.runtime.sessions,
            [params],
            settings,
            progress=progress,
            should_stop=lambda: ctx.shutting_down() or ctx.is_cancelled(),
        )
    except EndpointRefused as error:
        raise JobFailed(str(error)) from None
    except RunStopped:
        if ctx.shutting_down():
            ctx.stop_for_shutdown()
        ctx.raise_if_cancelled()
        raise


def endpoint_for(config: AutointerpConfig, settings: Settings) -> Endpoint:
    """The run's endpoint, with the deployment's key and API version."""
    return Endpoint(
        base_url=config.base_url,
        kind=config.endpoint_kind,
        api_key=settings.llm_api_key or "not-needed",
        api_version=settings.llm_api_version,
    )


def run_batches(
    sessions: sessionmaker[Session],
    batches: list[AutointerpParams],
    settings: Settings | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    extra_headers: dict[str, str] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> AutointerpResult:
    """Explain, score and store the unfinished features of `batches` (all of one run); refresh
    the SAE's labels and aggregates; mark the run done once all its features are. Once
    `should_stop()` (cheap, no I/O: polled on the event loop every STOP_POLL_S) turns true, the
    calls in flight are drained and RunStopped is raised."""
    settings = settings or get_settings()
    run_id = uuid.UUID(batches[0].run_id)
    with sessions() as session:
        run = session.get(AutointerpRun, run_id)
        if run is None:
            raise JobFailed(f"no autointerp run {run_id}")
        config = AutointerpConfig.model_validate(run.config)
        sae = session.get_one(Sae, run.sae_id)
        finished = finished_indices(session, run_id)
        fallback = [(r.index, r.text) for r in session.execute(_OTHER_LABELS, {"sae_id": sae.id})]
        spent = run.prompt_tokens + run.completion_tokens
        mark_started(session, run_id)
        session.commit()
    endpoint = endpoint_for(config, settings)
    check_endpoint(endpoint, allow_remote=settings.llm_allow_remote)
    todo = [[i for i in b.indices if i not in finished] for b in batches]
    todo = [b for b in todo if b]
    if not todo:
        with sessions() as session:
            mark_done_if_finished(session, run_id)
            session.commit()
        return AutointerpResult(run_id=str(run_id), sae=sae.slug, done=[], failed=[])
    done: list[int] = []
    failed: list[int] = []

    async def main() -> None:
        client = LlmClient(
            endpoint,
            sessions,
            run_id,
            concurrency=settings.llm_concurrency,
            token_budget=config.token_budget,
            spent=spent,
            timeout_s=settings.llm_timeout_s,
            max_attempts=settings.llm_max_attempts,
            backoff_s=settings.llm_backoff_s,
            extra_headers=extra_headers,
        )
        total = sum(map(len, todo))

        async def finish(outcomes: list[FeatureOutcome], missing: list[int]) -> None:
            await asyncio.to_thread(_store, sessions, run_id, config, outcomes, missing)
            await client.flush()
            for outcome in outcomes:
                (done if outcome.explanation else failed).append(outcome.windows.index)
            failed.extend(missing)
            if progress is not None:
                await asyncio.to_thread(progress, len(done) + len(failed), total)

        async def watch() -> None:
            while not should_stop():
                await asyncio.sleep(STOP_POLL_S)
            client.stop_starting()

        watcher = asyncio.create_task(watch())
        # Three stages overlap: the next batch's windows load and the previous batch's results
        # are stored while this batch's LLM calls run.
        loading = asyncio.create_task(asyncio.to_thread(_load, sessions, sae.id, todo[0], config))
        storing: asyncio.Task[None] | None = None
        try:
            for number, batch in enumerate(todo):
                if client.stopped:
                    raise CallsStopped
                windows = await loading
                if number + 1 < len(todo):
                    loading = asyncio.create_task(
                        asyncio.to_thread(_load, sessions, sae.id, todo[number + 1], config)
                    )
                missing = [i for i in batch if i not in {w.index for w in windows}]
                try:
                    outcomes = await run_batch(client, config, windows, fallback)
                except CallsStopped:
                    if not await client.drain(settings.worker_shutdown_grace_s):
                        log.warning("stopping with LLM calls still in flight")
                    raise
                if storing is not None:
                    await storing
                storing = asyncio.create_task(finish(outcomes, missing))
            if storing is not None:
                await storing
        finally:
            watcher.cancel()
            if storing is not None and not storing.done():
                await asyncio.gather(storing, return_exceptions=True)
            if not loading.done():
                await asyncio.gather(loading, return_exceptions=True)
            await client.close()

    try:
        asyncio.run(main())
    except CallsStopped:
        raise RunStopped(f"autointerp run {run_id} stopped") from None
    finally:
        with sessions() as session:
            refresh_primary_labels(session, sae.id)
            refresh_sae_aggregates(session, sae.id)
            mark_done_if_finished(session, run_id)
            session.commit()
    return AutointerpResult(run_id=str(run_id), sae=sae.slug, done=done, failed=failed)


def _load(
    sessions: sessionmaker[Session], sae_id: int, batch: list[int], config: AutointerpConfig
) -> list[FeatureWindows]:
    with sessions() as session:
        found = [load_feature_windows(session, sae_id, index, config) for index in batch]
    return [w for w in found if w is not None]


def _store(
    sessions: sessionmaker[Session],
    run_id: uuid.UUID,
    config: AutointerpConfig,
    outcomes: list[FeatureOutcome],
    missing: list[int],
) -> None:
    for outcome in outcomes:
        with sessions() as session:
            store_outcome(session, run_id, config, outcome)
            session.commit()
    if missing:
        with sessions() as session:
            session.execute(
                text(
                    "INSERT INTO autointerp_run_features (run_id, feature_index, status, error) "
                    "SELECT :run_id, unnest(CAST(:indices AS integer[])), 'failed', "
                    "'the SAE has no such feature' ON CONFLICT DO NOTHING"
                ),
                {"run_id": run_id, "indices": missing},
            )
            session.commit()
