"""The `precompute_runs` row of an (SAE, corpus) pair: status and per-shard progress for the UI."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, text

_MERGED_SHARDS = "shards || jsonb_build_object(CAST(:key AS text), CAST(:progress AS jsonb))"
_SHARD_TOTALS = (
    "n_documents = (SELECT coalesce(sum((value->>'documents')::bigint), 0) "
    f"FROM jsonb_each({_MERGED_SHARDS})), "
    "n_tokens = (SELECT coalesce(sum((value->>'tokens')::bigint), 0) "
    f"FROM jsonb_each({_MERGED_SHARDS}))"
)


def start_run(
    engine: Engine, sae_id: int, corpus_id: int, n_shards: int, config: dict[str, Any]
) -> int:
    """Create or reuse the pair's row; a changed configuration or a finished run starts over."""
    with engine.begin() as connection:
        return connection.execute(
            text(
                "INSERT INTO precompute_runs (sae_id, corpus_id, status, n_shards, config) "
                "VALUES (:sae_id, :corpus_id, 'running', :n_shards, CAST(:config AS jsonb)) "
                "ON CONFLICT (sae_id, corpus_id) DO UPDATE SET "
                "status = 'running', error = NULL, finished_at = NULL, updated_at = now(), "
                "n_shards = EXCLUDED.n_shards, config = EXCLUDED.config, "
                "started_at = CASE WHEN precompute_runs.status IN ('done', 'failed') "
                "OR precompute_runs.config <> EXCLUDED.config THEN now() "
                "ELSE precompute_runs.started_at END, "
                "shards = CASE WHEN precompute_runs.config = EXCLUDED.config "
                "AND precompute_runs.status <> 'done' THEN precompute_runs.shards "
                "ELSE '{}'::jsonb END "
                "RETURNING id"
            ),
            {
                "sae_id": sae_id,
                "corpus_id": corpus_id,
                "n_shards": n_shards,
                "config": json.dumps(config, sort_keys=True),
            },
        ).scalar_one()


def report_shard(
    engine: Engine, run_id: int, shard: int, status: str, documents: int, tokens: int
) -> None:
    """Record one shard's progress and refresh the run's totals."""
    progress = json.dumps({"status": status, "documents": documents, "tokens": tokens})
    with engine.begin() as connection:
        connection.execute(
            text(
                f"UPDATE precompute_runs SET shards = {_MERGED_SHARDS}, {_SHARD_TOTALS}, "
                "updated_at = now() WHERE id = :run_id"
            ),
            {"run_id": run_id, "key": str(shard), "progress": progress},
        )


def claim_merge(engine: Engine, run_id: int) -> bool:
    """True for exactly one caller once every shard is done: that caller writes the results."""
    with engine.begin() as connection:
        claimed = connection.execute(
            text(
                "UPDATE precompute_runs SET status = 'merging', updated_at = now() "
                "WHERE id = :run_id AND status = 'running' AND (SELECT count(*) FROM "
                "jsonb_each(shards) WHERE value->>'status' = 'done') = n_shards RETURNING id"
            ),
            {"run_id": run_id},
        ).first()
    return claimed is not None


def finish_run(engine: Engine, run_id: int, status: str, error: str | None = None) -> None:
    """Mark the run done or failed."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE precompute_runs SET status = :status, error = :error, "
                "finished_at = now(), updated_at = now() WHERE id = :run_id"
            ),
            {"run_id": run_id, "status": status, "error": error},
        )
