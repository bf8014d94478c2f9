"""The `steer` job: the study's report with and without SAE decoder directions added at layer 15,
a word-level diff of the two and the CheXpert findings that appeared, disappeared or changed
certainty.

Alpha units: the worker adds `sum_i alpha_i * steering_scale * unit(W_dec[index_i])` (raw
residual-stream units; `steering_scale` comes with the job from the web's settings). Without a
cached baseline both reports come from ONE batched generate (row 0 plain, row 1 steered); when
an earlier encode or steer job already wrote the baseline for the same model, study and
generation parameters, only the steered row is generated.
"""

from __future__ import annotations

import logging

import torch

from workers.findings.compare import compare_findings, summarize
from workers.findings.diff import word_diff
from workers.kinds.steer import (
    DiffSegment,
    FindingChangeOut,
    FindingSummary,
    SteerParams,
    SteerResult,
)
from workers.live.baselines import cached_baseline
from workers.live.models import load_runner, load_sae
from workers.live.studies import load_sae_row, load_study
from workers.queue.context import JobContext

log = logging.getLogger(__name__)


def steer(ctx: JobContext, params: SteerParams) -> SteerResult:
    """Write the baseline (or reuse it) and the steered report, then compare them."""
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
    alphas = [f.alpha * scale for f in params.features]
    generation = {
        "max_new_tokens": params.max_new_tokens,
        "seed": params.seed,
        "do_sample": not params.greedy,
    }
    if baseline is None:
        ctx.report_progress(0.1, "Writing the baseline and steered reports")
        result = runner.steer(study, directions, alphas, **generation)
        baseline, steered = result.baseline, result.steered
        baseline_cached = False
    else:
        ctx.report_progress(0.1, "Writing the steered report (baseline reused)")
        steered = runner.generate_steered(study, directions, alphas, **generation)
        baseline_cached = True
    ctx.raise_if_cancelled()
    ctx.report_progress(0.9, "Comparing the reports")
    changes = compare_findings(baseline, steered)
    log.info("steered %s with %d features", row.slug, len(params.features))
    return SteerResult(
        sae=row.slug,
        baseline=baseline,
        steered=steered,
        baseline_cached=baseline_cached,
        identical=baseline == steered,
        features=list(params.features),
        diff=[
            DiffSegment(op=segment.op, old=segment.old, new=segment.new)
            for segment in word_diff(baseline, steered)
        ],
        findings=[FindingChangeOut.model_validate(change.as_dict()) for change in changes],
        summary=FindingSummary.model_validate(summarize(changes)),
    )
