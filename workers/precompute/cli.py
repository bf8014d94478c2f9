"""`maira-sae precompute`: compute an SAE's feature dashboards over a report CSV.

Runs every shard in this process (default), one shard (`--shard I`), or queues one job per shard
(`--queue`, served by `maira-sae worker`); whoever finishes the last shard writes the results.
`--save-activations DIR` also writes the raw report-token activations as an activation dataset
(`sae.activation_shards`, float32) for `maira-sae train`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sqlalchemy import Engine

from db.engine import make_engine
from db.migrate import ready_database_url
from db.settings import get_settings
from sae.activation_shards import ActivationShardWriter
from workers.corpus import CorpusError
from workers.maira2.images import ImageError
from workers.precompute.config import PrecomputeConfig
from workers.precompute.pipeline import PrecomputeError, find_sae, run_precompute

SHARD_JOB = "precompute_shard"


def _say(message: str, error: bool = False) -> None:
    print(message, file=sys.stderr if error else sys.stdout)


def config_from_args(args: argparse.Namespace) -> PrecomputeConfig:
    return PrecomputeConfig(
        reports=args.reports.resolve(),
        images=args.images.resolve() if args.images is not None else None,
        model=args.model,
        limit=args.limit,
        top_k=args.top_k,
        n_shards=args.shards,
        window_sample=args.window_sample,
        window_seed=args.window_seed,
    )


def shard_job_params(sae: str, config: PrecomputeConfig, shard: int) -> dict:
    """Parameters of one `precompute_shard` queue job (see `workers.precompute.jobs`)."""
    return {
        "sae": sae,
        "reports": str(config.reports),
        "images": str(config.images) if config.images is not None else None,
        "model": config.model,
        "limit": config.limit,
        "top_k": config.top_k,
        "n_shards": config.n_shards,
        "window_sample": config.window_sample,
        "window_seed": config.window_seed,
        "shard": shard,
    }


def _queue(url: str, sae: str, config: PrecomputeConfig, shards: list[int]) -> int:
    from workers.queue.submit import submit_job

    for shard in shards:
        job = submit_job(url, SHARD_JOB, shard_job_params(sae, config, shard))
        _say(f"queued shard {shard} of {config.n_shards} as job {job.id}")
    return 0


def _activation_writer(
    engine: Engine, args: argparse.Namespace, config: PrecomputeConfig
) -> ActivationShardWriter:
    folder: Path = args.save_activations
    if config.n_shards > 1:
        folder = folder / f"shard-{'all' if args.shard is None else args.shard}"
    d_in = find_sae(engine, args.sae).d_in
    meta = {"reports": str(config.reports), "sae": args.sae, "model": config.model}
    return ActivationShardWriter(folder, d_in, meta=meta, dtype="float32")


def command(args: argparse.Namespace) -> int:
    """CLI target; exit status 2 with a one-line message for unusable input."""
    settings = get_settings()
    config = config_from_args(args)
    if args.shard is not None and not 0 <= args.shard < config.n_shards:
        _say(f"error: --shard must be in 0..{config.n_shards - 1}", error=True)
        return 2
    shards = list(range(config.n_shards)) if args.shard is None else [args.shard]
    url = ready_database_url(settings)
    if args.queue:
        return _queue(url, args.sae, config, shards)
    engine = make_engine(url)
    writer = None
    started = time.monotonic()
    try:
        if args.save_activations is not None:
            writer = _activation_writer(engine, args, config)
        outcome = run_precompute(
            engine, config, args.sae, settings.home, shards=shards, activation_sink=writer
        )
    except (PrecomputeError, CorpusError, ImageError, FileExistsError, FileNotFoundError) as error:
        _say(f"error: {error}", error=True)
        return 2
    finally:
        if writer is not None:
            writer.close()
        engine.dispose()
    elapsed = time.monotonic() - started
    if outcome is None:
        _say(f"shard(s) {shards} done in {elapsed:.1f} s; other shards are still outstanding")
    else:
        _say(
            f"precomputed {args.sae}: {outcome.n_documents} documents, {outcome.n_tokens} "
            f"tokens, {outcome.n_examples} examples in {elapsed:.1f} s "
            f"({outcome.n_tokens / max(elapsed, 1e-9):.0f} tokens/s overall)"
        )
    return 0
