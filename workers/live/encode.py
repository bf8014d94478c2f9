"""The `encode` job: generate the findings report for an uploaded study, read layer 15 over the
report and the prompt's free text (teacher-forced), and encode it with an SAE."""

from __future__ import annotations

import logging

import torch

from workers.kinds.encode import EncodeParams, EncodeResult, PromptToken, ReportToken
from workers.live.baselines import cached_baseline
from workers.live.features import feature_totals, token_features
from workers.live.models import load_runner, load_sae
from workers.live.studies import load_sae_row, load_study
from workers.queue.context import JobContext

log = logging.getLogger(__name__)


def real_positions(texts: list[str]) -> list[int]:
    """Positions of tokens that carry text (a piece ending inside a character shows as "")."""
    return [position for position, text in enumerate(texts) if text]


def encode(ctx: JobContext, params: EncodeParams) -> EncodeResult:
    """Write (or reuse) the report, capture layer 15 over it and encode every token."""
    settings = ctx.runtime.settings
    with ctx.session() as session:
        row = load_sae_row(session, params.sae)
        study = load_study(session, settings, params.study)
        baseline = cached_baseline(session, params.baseline_key)
    ctx.report_progress(0.05, "Loading the model")
    runner = load_runner(ctx)
    sae = load_sae(ctx, row, runner.d_model)
    ctx.raise_if_cancelled()
    if baseline is None:
        ctx.report_progress(0.1, "Writing the report")
        report = runner.generate_report(study, max_new_tokens=params.max_new_tokens)
    else:
        report = baseline
    ctx.raise_if_cancelled()
    ctx.report_progress(0.7, "Reading layer 15 over the report")
    capture = runner.capture([study], [report])[0]
    ctx.raise_if_cancelled()
    ctx.report_progress(0.85, "Encoding with the SAE")
    kept = real_positions(capture.report_tokens)
    with torch.inference_mode():
        device = next(sae.parameters()).device
        report_acts = sae.encode_raw(capture.report_activations[kept].to(device)).float().cpu()
        prompt_acts = sae.encode_raw(capture.prompt_activations.to(device)).float().cpu()
    report_features = token_features(report_acts, params.top_features)
    prompt_features = token_features(prompt_acts, params.top_features)
    log.info("encoded %d report tokens with %s", len(kept), row.slug)
    return EncodeResult(
        sae=row.slug,
        d_sae=row.d_sae,
        report=report,
        baseline_cached=baseline is not None,
        max_new_tokens=params.max_new_tokens,
        tokens=[
            ReportToken(text=capture.report_tokens[position], features=features)
            for position, features in zip(kept, report_features, strict=True)
        ],
        prompt_tokens=[
            PromptToken(text=text, field=field, features=features)
            for text, field, features in zip(
                capture.prompt_tokens, capture.prompt_fields, prompt_features, strict=True
            )
        ],
        totals=feature_totals(report_acts),
        n_active_features=int((report_acts > 0).any(dim=0).sum()),
        max_value=float(report_acts.max()) if report_acts.numel() else 0.0,
    )
