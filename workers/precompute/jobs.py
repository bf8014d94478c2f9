"""The `precompute_shard` queue job: one shard of `maira-sae precompute --queue`.

params: sae, reports, images, model, limit, top_k, n_shards, shard (see `cli.shard_job_params`).
The worker's own model serves the capture, so the job's `model` must be the worker's. The job
that completes the last shard merges and writes the results. Progress is reported at each
checkpoint and cancellation is checked there (the shard resumes from it when re-queued).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workers.corpus import CorpusError, read_reports
from workers.precompute.config import PrecomputeConfig
from workers.precompute.pipeline import PrecomputeError, run_precompute
from workers.precompute.sources import RunnerSource
from workers.precompute.state import Progress
from workers.queue.context import JobContext, JobFailed
from workers.queue.handlers import handler


def _config(params: dict[str, Any]) -> PrecomputeConfig:
    return PrecomputeConfig(
        reports=Path(params["reports"]),
        images=Path(params["images"]) if params.get("images") else None,
        model=params["model"],
        limit=params.get("limit"),
        top_k=int(params["top_k"]),
        n_shards=int(params["n_shards"]),
        checkpoint_every=int(params.get("checkpoint_every", 256)),
        window_sample=int(params.get("window_sample", 4096)),
        window_seed=int(params.get("window_seed", 0)),
    )


@handler("precompute_shard")
def precompute_shard(ctx: JobContext) -> dict[str, Any]:
    config = _config(ctx.params)
    shard = int(ctx.params["shard"])
    if config.model != ctx.resources.model_path:
        raise JobFailed(
            f"this shard needs model {config.model!r}, but the worker runs "
            f"{ctx.resources.model_path!r}"
        )
    try:
        total = sum(
            1
            for report in read_reports(config.reports, config.images, config.limit)
            if report.index % config.n_shards == shard
        )
    except (CorpusError, FileNotFoundError) as error:
        raise JobFailed(str(error)) from error

    def checkpointed(_: int, progress: Progress) -> None:
        ctx.report_progress(
            min(progress.documents / max(total, 1), 0.99),
            f"shard {shard}: {progress.documents} of {total} reports",
        )
        ctx.raise_if_cancelled()

    with ctx.session() as session:
        engine = session.get_bind()
    source = RunnerSource(ctx.resources.runner(), config.batch_size)
    try:
        outcome = run_precompute(
            engine,
            config,
            ctx.params["sae"],
            ctx.runtime.settings.home,
            shards=[shard],
            source=source,
            device=ctx.resources.device,
            on_checkpoint=checkpointed,
        )
    except (PrecomputeError, CorpusError) as error:
        raise JobFailed(str(error)) from error
    ctx.report_progress(1.0, "merged and written" if outcome else f"shard {shard} done")
    if outcome is None:
        return {"shard": shard, "merged": False}
    return {
        "shard": shard,
        "merged": True,
        "documents": outcome.n_documents,
        "tokens": outcome.n_tokens,
        "examples": outcome.n_examples,
    }
