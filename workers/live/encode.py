"""The `encode` job: generate the findings report for an uploaded study, read layer 15 over the
report and the prompt's free text (teacher-forced), and encode it with an SAE."""

from __future__ import annotations

import logging
from typing import Any

import torch

from workers.live.baselines import cached_baseline
from workers.live.features import feature_labels, feature_totals, labelled_tokens, token_features
from workers.live.models import load_runner, load_sae
from workers.live.studies import load_sae_row, load_study
from workers.queue.context import JobContext
from workers.queue.handlers import handler

log = logging.getLogger(__name__)


@handler("encode")
def encode(ctx: JobContext) -> dict[str, Any]:
    """params: study (upload ids, text fields), sae, max_new_tokens, top_features, baseline_key.

    result: report, tokens [{text, features [{index, value, label}]}], prompt_tokens (with their
    field), totals [{index, sum, max, count, label}] by sum, n_active_features, max_value.
    """
    params = ctx.params
    settings = ctx.runtime.settings
    with ctx.session() as session:
        row = load_sae_row(session, params["sae"])
        study = load_study(session, settings, params["study"])
        baseline = cached_baseline(session, params.get("baseline_key"))
    ctx.report_progress(0.05, "Loading the model")
    runner = load_runner(ctx)
    sae = load_sae(ctx, row, runner.d_model)
    ctx.raise_if_cancelled()
    if baseline is None:
        ctx.report_progress(0.1, "Writing the report")
        report = runner.generate_report(study, max_new_tokens=int(params["max_new_tokens"]))
    else:
        report = baseline
    ctx.raise_if_cancelled()
    ctx.report_progress(0.7, "Reading layer 15 over the report")
    capture = runner.capture([study], [report])[0]
    ctx.raise_if_cancelled()
    ctx.report_progress(0.85, "Encoding with the SAE")
    with torch.inference_mode():
        device = next(sae.parameters()).device
        report_acts = sae.encode_raw(capture.report_activations.to(device)).float().cpu()
        prompt_acts = sae.encode_raw(capture.prompt_activations.to(device)).float().cpu()
    top = int(params.get("top_features", 10))
    report_features = token_features(report_acts, top)
    prompt_features = token_features(prompt_acts, top)
    totals = feature_totals(report_acts)
    indices = [index for row_ in report_features + prompt_features for index, _ in row_]
    with ctx.session() as session:
        labels = feature_labels(session, row.id, indices + [t["index"] for t in totals])
    for total in totals:
        total["label"] = labels.get(total["index"])
    log.info("encoded %d report tokens with %s", len(capture.report_tokens), row.slug)
    return {
        "sae": row.slug,
        "d_sae": row.d_sae,
        "report": report,
        "baseline_cached": baseline is not None,
        "tokens": labelled_tokens(capture.report_tokens, report_features, labels),
        "prompt_tokens": labelled_tokens(
            capture.prompt_tokens, prompt_features, labels, {"field": capture.prompt_fields}
        ),
        "totals": totals,
        "n_active_features": int((report_acts > 0).any(dim=0).sum()),
        "max_value": float(report_acts.max()) if report_acts.numel() else 0.0,
    }
