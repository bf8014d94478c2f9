"""The `steering_study_part` job: for each of its studies, ONE batched generate writes the
baseline and a steered report per (feature, alpha) (each row its own one-feature vector, so the
rows do not depend on each other), and each steered report's finding changes are split into on-
and off-target. Studies are written one at a time, so a part's outcome for a study does not depend
on which other studies share its part."""

from __future__ import annotations

import logging

import torch

from workers.findings.compare import compare_findings
from workers.findings.targets import split_changes
from workers.kinds.steering_study import StudyOutcome, StudyPartParams, StudyPartResult, StudyRun
from workers.live.models import load_runner, load_sae
from workers.live.studies import load_sae_row, load_study
from workers.queue.context import JobContext

log = logging.getLogger(__name__)


def _run(baseline: str, steered: str, feature: int, alpha: float, targets: list[str]) -> StudyRun:
    changed = [c.observation for c in compare_findings(baseline, steered) if c.kind != "unchanged"]
    on_target, off_target = split_changes(changed, targets)
    return StudyRun(
        feature=feature,
        alpha=alpha,
        steered=steered,
        on_target=on_target,
        off_target=off_target,
    )


def steering_study_part(ctx: JobContext, params: StudyPartParams) -> StudyPartResult:
    """Write and compare every study of the part; progress after each study."""
    settings = ctx.runtime.settings
    with ctx.session() as session:
        row = load_sae_row(session, params.sae)
    ctx.report_progress(0.02, "Loading the model")
    runner = load_runner(ctx)
    sae = load_sae(ctx, row, runner.d_model)
    directions = sae.W_dec.detach()[torch.tensor([f.index for f in params.features])]
    scale = params.steering_scale / runner.steering_scale
    cells = [
        (number, f, alpha) for number, f in enumerate(params.features) for alpha in params.alphas
    ]
    alpha_rows = [
        [alpha * scale if position == number else 0.0 for position in range(len(params.features))]
        for number, _, alpha in cells
    ]
    outcomes: list[StudyOutcome] = []
    for position, study_params in enumerate(params.studies):
        ctx.raise_if_cancelled()
        with ctx.session() as session:
            study = load_study(session, settings, study_params)
        baseline, *steered = runner.steer_sweep(
            study,
            directions,
            alpha_rows,
            True,
            max_new_tokens=params.max_new_tokens,
            seed=params.seed,
            do_sample=not params.greedy,
        )
        outcomes.append(
            StudyOutcome(
                baseline=baseline,
                runs=[
                    _run(baseline, text, feature.index, alpha, feature.targets)
                    for text, (_, feature, alpha) in zip(steered, cells, strict=True)
                ],
            )
        )
        done = (position + 1) / len(params.studies)
        ctx.report_progress(0.05 + 0.9 * done, f"{position + 1} of {len(params.studies)} studies")
    log.info("steering study part: %d studies x %d runs", len(outcomes), len(cells))
    return StudyPartResult(sae=row.slug, studies=outcomes)
