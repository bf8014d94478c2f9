"""Autointerp runs: create one and split it into queue jobs; read its progress. Torch-free, so the
web app (submit side) and the command line share it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from db.models import AutointerpRun, AutointerpRunFeature, Feature, Sae
from workers.autointerp.config import AutointerpConfig
from workers.kinds.autointerp import AUTOINTERP, AutointerpParams
from workers.queue.submit import queue_job

BATCH_SIZE = 8
MAX_FEATURES = 100_000


class RunRequestError(ValueError):
    """The request names no SAE, no feature, or too many features."""


def select_features(
    session: Session,
    sae: Sae,
    *,
    indices: list[int] | None = None,
    limit: int | None = None,
    unlabelled: bool = False,
    min_frequency: float | None = None,
) -> list[int]:
    """The indices of the SAE's features that match the filters (with stored examples only)."""
    query = select(Feature.index).where(Feature.sae_id == sae.id).order_by(Feature.index)
    query = query.where(text("EXISTS (SELECT 1 FROM examples e WHERE e.feature_id = features.id)"))
    if indices is not None:
        query = query.where(Feature.index.in_(indices))
    if unlabelled:
        query = query.where(Feature.label.is_(None))
    if min_frequency is not None:
        query = query.where(Feature.frequency >= min_frequency)
    query = query.limit(min(limit or MAX_FEATURES, MAX_FEATURES) + 1)
    found = list(session.scalars(query))
    if len(found) > MAX_FEATURES:
        raise RunRequestError(f"more than {MAX_FEATURES} features match: add a filter or --limit")
    return found


def create_run(
    session: Session,
    sae: Sae,
    config: AutointerpConfig,
    indices: list[int],
    *,
    batch_size: int = BATCH_SIZE,
    queue: bool = True,
) -> AutointerpRun:
    """A run over `indices`, committed, with one queued job per batch of features (or none when
    `queue` is False: the caller runs the batches itself)."""
    if not indices:
        raise RunRequestError("no feature with stored examples matches")
    run = AutointerpRun(
        sae_id=sae.id,
        config=config.model_dump(mode="json"),
        feature_indices=indices,
        token_budget=config.token_budget,
    )
    session.add(run)
    session.commit()
    if queue:
        for params in batches(run, sae.slug, batch_size):
            queue_job(
                session,
                AUTOINTERP.name,
                params.model_dump(),
                cache_key=AUTOINTERP.cache_key(params),
            )
    return run


def batches(run: AutointerpRun, slug: str, batch_size: int = BATCH_SIZE) -> list[AutointerpParams]:
    """The run's features cut into job-sized batches."""
    indices = run.feature_indices
    return [
        AutointerpParams(run_id=str(run.id), sae=slug, indices=indices[i : i + batch_size])
        for i in range(0, len(indices), batch_size)
    ]


def finished_indices(session: Session, run_id: uuid.UUID) -> set[int]:
    """Features the run has finished (done or failed)."""
    return set(
        session.scalars(
            select(AutointerpRunFeature.feature_index).where(AutointerpRunFeature.run_id == run_id)
        )
    )


def mark_started(session: Session, run_id: uuid.UUID) -> None:
    session.execute(
        text(
            "UPDATE autointerp_runs SET status = 'running', "
            "started_at = coalesce(started_at, now()) "
            "WHERE id = :id AND status IN ('queued', 'running')"
        ),
        {"id": run_id},
    )


def mark_done_if_finished(session: Session, run_id: uuid.UUID) -> bool:
    """Set the run done once every feature is finished; True if it is."""
    result = session.execute(
        text(
            "UPDATE autointerp_runs AS r SET status = 'done', finished_at = now() "
            "WHERE r.id = :id AND r.status <> 'done' AND cardinality(r.feature_indices) <= "
            "(SELECT count(*) FROM autointerp_run_features f WHERE f.run_id = r.id)"
        ),
        {"id": run_id},
    )
    return result.rowcount > 0


def run_progress(session: Session, run: AutointerpRun) -> dict[str, Any]:
    """Features done and failed, calls, tokens and an ETA from the pace so far."""
    counts = dict(
        session.execute(
            select(AutointerpRunFeature.status, func.count())
            .where(AutointerpRunFeature.run_id == run.id)
            .group_by(AutointerpRunFeature.status)
        ).all()
    )
    done, failed = counts.get("done", 0), counts.get("failed", 0)
    total = len(run.feature_indices)
    eta_s = None
    if run.started_at is not None and run.finished_at is None and done + failed:
        elapsed = (datetime.now(UTC) - run.started_at).total_seconds()
        eta_s = round(elapsed / (done + failed) * (total - done - failed), 1)
    return {
        "n_features": total,
        "n_done": done,
        "n_failed": failed,
        "n_remaining": total - done - failed,
        "eta_s": eta_s,
        "n_calls": run.n_calls,
        "n_cached": run.n_cached,
        "n_failed_calls": run.n_failed_calls,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "token_budget": run.token_budget,
    }


def failed_features(session: Session, run_id: uuid.UUID, limit: int = 50) -> list[dict[str, Any]]:
    """The run's failed features with their reasons."""
    rows = session.execute(
        select(AutointerpRunFeature.feature_index, AutointerpRunFeature.error)
        .where(AutointerpRunFeature.run_id == run_id, AutointerpRunFeature.status == "failed")
        .order_by(AutointerpRunFeature.feature_index)
        .limit(limit)
    ).all()
    return [{"index": index, "error": error} for index, error in rows]
