"""Runs a precompute: plan the (SAE, corpus) pair, run shards, and merge once all are done."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sqlalchemy import Engine, text

from sae import load_sae
from workers.precompute import runs
from workers.precompute.config import PrecomputeConfig
from workers.precompute.database import ensure_corpus
from workers.precompute.merge import MergeOutcome, merge_statistics, shard_folders, write_results
from workers.precompute.shard import ActivationSink, new_statistics, run_shard
from workers.precompute.sources import ActivationSource, RunnerSource
from workers.precompute.state import Progress, ShardState

log = logging.getLogger(__name__)


class PrecomputeError(ValueError):
    """A precompute that cannot start (unknown SAE, missing weights); the message says why."""


@dataclass(frozen=True)
class SaeRecord:
    """The `saes` row fields a precompute needs."""

    id: int
    slug: str
    model_slug: str
    weights_path: str
    input_scale: float
    group_sizes: list[int]
    d_in: int


@dataclass(frozen=True)
class Plan:
    """A prepared run: the SAE, its corpus row, its run row and its state folder."""

    sae: SaeRecord
    corpus_id: int
    run_id: int
    state_root: Path
    config: PrecomputeConfig

    def shard_state(self, shard: int) -> ShardState:
        folder = shard_folders(self.state_root, self.config.n_shards)[shard]
        return ShardState(folder, self.config.fingerprint())


def find_sae(engine: Engine, slug: str) -> SaeRecord:
    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT s.id, s.slug, m.slug, s.weights_path, s.input_scale, s.group_sizes, s.d_in "
                "FROM saes s JOIN models m ON m.id = s.model_id WHERE s.slug = :slug"
            ),
            {"slug": slug},
        ).first()
    if row is None:
        raise PrecomputeError(f"no SAE named {slug!r}; import it first (maira-sae import-sae)")
    if not row[3]:
        raise PrecomputeError(f"SAE {slug!r} has no weights_path: re-import it from its ae.pt")
    return SaeRecord(row[0], row[1], row[2], row[3], float(row[4]), list(row[5]), row[6])


def plan_run(engine: Engine, config: PrecomputeConfig, sae_slug: str, home: Path) -> Plan:
    """Create (or reuse) the corpus and run rows for this SAE and report file."""
    sae = find_sae(engine, sae_slug)
    corpus_slug = config.corpus_slug(sae.model_slug)
    with engine.begin() as connection:
        corpus_id = ensure_corpus(
            connection,
            corpus_slug,
            name=config.reports.stem,
            source=str(config.reports),
            text_only=config.images is None,
        )
    run_id = runs.start_run(engine, sae.id, corpus_id, config.n_shards, config.fingerprint())
    state_root = home / "precompute" / f"{sae.slug}__{corpus_slug}"
    return Plan(sae, corpus_id, run_id, state_root, config)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def run_precompute(
    engine: Engine,
    config: PrecomputeConfig,
    sae_slug: str,
    home: Path,
    *,
    shards: Sequence[int] | None = None,
    source: ActivationSource | None = None,
    device: str | None = None,
    on_checkpoint: Callable[[int, Progress], None] | None = None,
    activation_sink: ActivationSink | None = None,
) -> MergeOutcome | None:
    """Run `shards` (default: all, one after the other) and merge if every shard is done.

    Returns what the merge wrote, or None when other shards are still outstanding. Any error
    marks the run failed and propagates; the shards' checkpoints stay for a resumed run.
    """
    plan = plan_run(engine, config, sae_slug, home)
    device = device or default_device()
    sae = load_sae(plan.sae.weights_path, device=device, input_scale=plan.sae.input_scale)
    try:
        if source is None:
            from workers.maira2.runner import Maira2Runner

            source = RunnerSource(Maira2Runner.load(config.model, device=device), config.batch_size)
        for shard in range(config.n_shards) if shards is None else shards:
            _run_one_shard(engine, plan, source, sae, shard, on_checkpoint, activation_sink)
        return merge_if_complete(engine, plan, sae)
    except BaseException as error:
        runs.finish_run(engine, plan.run_id, "failed", f"{type(error).__name__}: {error}")
        raise


def _run_one_shard(
    engine: Engine,
    plan: Plan,
    source: ActivationSource,
    sae: Any,
    shard: int,
    on_checkpoint: Callable[[int, Progress], None] | None,
    activation_sink: ActivationSink | None,
) -> None:
    if not 0 <= shard < plan.config.n_shards:
        raise PrecomputeError(f"shard {shard} is not in 0..{plan.config.n_shards - 1}")

    def checkpointed(progress: Progress) -> None:
        status = "done" if progress.finished else "running"
        runs.report_shard(engine, plan.run_id, shard, status, progress.documents, progress.tokens)
        if on_checkpoint is not None:
            on_checkpoint(shard, progress)

    outcome = run_shard(
        source, sae, plan.config, shard, plan.shard_state(shard), checkpointed, activation_sink
    )
    if outcome.already_finished:
        checkpointed(outcome.progress)


def merge_if_complete(engine: Engine, plan: Plan, sae: Any) -> MergeOutcome | None:
    """If every shard is done and no one else merges, write the results and finish the run."""
    if not runs.claim_merge(engine, plan.run_id):
        return None
    states = [plan.shard_state(shard) for shard in range(plan.config.n_shards)]
    statistics = merge_statistics(states, new_statistics(sae, plan.config.top_k))
    outcome = write_results(
        engine,
        plan.sae.id,
        plan.sae.group_sizes,
        plan.corpus_id,
        states,
        statistics,
        plan.config.window_sample,
        plan.config.window_seed,
    )
    runs.finish_run(engine, plan.run_id, "done")
    shutil.rmtree(plan.state_root, ignore_errors=True)
    return outcome
