"""The `steer` job: the study's report with and without SAE decoder directions added at layer 15,
a word-level diff of the two and the CheXpert findings that appeared, disappeared or changed
certainty, split into changes of the target observations (on-target) and of the others.

Alpha units: the worker adds `sum_i alpha_i * steering_scale * unit(W_dec[index_i])` (raw
residual-stream units; `steering_scale` comes with the job from the web's settings). An alpha
sweep (every feature with N alphas) is ONE batched generate: row 0 plain, then one row per step,
each with its own vector. When an earlier encode or steer job already wrote the baseline for the
same model, study and generation parameters, only the steered rows are generated.
"""

from __future__ import annotations

import logging

import torch

from workers.findings.compare import compare_findings, summarize
from workers.findings.diff import word_diff
from workers.findings.targets import split_changes
from workers.kinds.steer import (
    DiffSegment,
    FindingChangeOut,
    FindingSummary,
    SteerParams,
    SteerResult,
    SteerRun,
)
from workers.live.baselines import cached_baseline
from workers.live.models import load_runner, load_sae
from workers.live.studies import load_sae_row, load_study
from workers.queue.context import JobContext

log = logging.getLogger(__name__)


def steer_run(baseline: str, steered: str, alphas: list[float], targets: list[str]) -> SteerRun:
    """One steered report compared with the baseline: word diff, findings, on/off-target."""
    changes = compare_findings(baseline, steered)
    on_target, off_target = split_changes(
        [change.observation for change in changes if change.kind != "unchanged"], targets
    )
    return SteerRun(
        alphas=alphas,
        steered=steered,
        identical=baseline == steered,
        diff=[
            DiffSegment(op=segment.op, old=segment.old, new=segment.new)
            for segment in word_diff(baseline, steered)
        ],
        findings=[FindingChangeOut.model_validate(change.as_dict()) for change in changes],
        summary=FindingSummary.model_validate(summarize(changes)),
        on_target=on_target,
        off_target=off_target,
    )


def steer(ctx: JobContext, params: SteerParams) -> SteerResult:
    """Write the baseline (or reuse it) and one steered report per sweep step, then compare."""
    settings = ctx.runtime.settings
    with ctx.session() as session:
        row = load_sae_row(session, params.sae)
        study = load_study(session, settings, params.study)
        baseline = cached_baseline(session, params.baseline_key)
    ctx.report_progress(0.05, "Loading the model")
    runner = load_runner(ctx)
    sae = load_sae(ctx, row, runner.d_model)
    ctx.raise_if_cancelled()
    directions = sae.W_dec.detach()[torch.tensor([f.index for f in params.features])]
    scale = params.steering_scale / runner.steering_scale
    rows = params.alpha_rows()
    generation = {
        "max_new_tokens": params.max_new_tokens,
        "seed": params.seed,
        "do_sample": not params.greedy,
    }
    scaled = [[alpha * scale for alpha in alphas] for alphas in rows]
    if baseline is None:
        ctx.report_progress(0.1, f"Writing the baseline and {len(rows)} steered report(s)")
        baseline, *steered = runner.steer_sweep(study, directions, scaled, True, **generation)
        baseline_cached = False
    else:
        ctx.report_progress(0.1, f"Writing {len(rows)} steered report(s) (baseline reused)")
        steered = runner.steer_sweep(study, directions, scaled, False, **generation)
        baseline_cached = True
    ctx.raise_if_cancelled()
    ctx.report_progress(0.9, "Comparing the reports")
    log.info("steered %s with %d features at %d steps", row.slug, len(params.features), len(rows))
    return SteerResult(
        sae=row.slug,
        baseline=baseline,
        baseline_cached=baseline_cached,
        features=list(params.features),
        targets=list(params.targets),
        steering_scale=params.steering_scale,
        mean_token_norm=params.mean_token_norm,
        runs=[
            steer_run(baseline, text, alphas, params.targets)
            for text, alphas in zip(steered, rows, strict=True)
        ],
    )
