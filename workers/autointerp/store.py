"""Writing a feature's outcome: the explanation (source `llm`) with its provenance, its scores with
intervals and counts, every per-example verdict, and the run's record of the feature."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import AutointerpRunFeature, AutointerpVerdict, Explanation, Score
from workers.autointerp.config import AutointerpConfig
from workers.autointerp.pipeline import FeatureOutcome, ScoreResult


def _provenance(
    config: AutointerpConfig, run_id: uuid.UUID, outcome: FeatureOutcome
) -> dict[str, Any]:
    w = outcome.windows
    return {
        "run_id": str(run_id),
        "explainer": config.explainer,
        "scorer": config.scorer,
        "endpoint_kind": config.endpoint_kind,
        "prompt_version": config.prompt_version,
        "preset": config.preset,
        "seed": config.seed,
        "explain_fraction": config.explain_fraction,
        "explanation_example_ids": [x.example_id for x in w.explain_activating],
        "explanation_non_activating_window_ids": [x.window_id for x in w.explain_non_activating],
        "explanation_document_ids": sorted(
            {x.document_id for x in w.explain_activating + w.explain_non_activating}
        ),
        "non_activating": "windows of the precompute window sample where the feature is inactive "
        "(hard negatives: a decoder-cosine neighbour fires)",
    }


def _metric(summary: dict[str, Any], name: str) -> float | None:
    return summary["metrics"][name]["value"]


def _score_row(explanation_id: int, config: AutointerpConfig, result: ScoreResult) -> Score:
    summary = result.summary
    return Score(
        explanation_id=explanation_id,
        kind=result.kind,
        split=result.split,
        accuracy=_metric(summary, "accuracy"),
        balanced_accuracy=_metric(summary, "balanced_accuracy"),
        precision=_metric(summary, "precision"),
        recall=_metric(summary, "recall"),
        f1=_metric(summary, "f1"),
        auc=_metric(summary, "auc"),
        n=summary["n"],
        details={
            **summary,
            **result.details,
            "scorer": config.scorer,
            "examples_per_prompt": config.examples_per_prompt,
            "example_ids": [e.window.example_id for e in result.examples],
        },
    )


def store_outcome(
    session: Session, run_id: uuid.UUID, config: AutointerpConfig, outcome: FeatureOutcome
) -> None:
    """Write one feature's outcome in the caller's transaction (the run feature row last, so a
    feature counts as finished only with everything it produced)."""
    explanation_id = None
    if outcome.explanation is not None:
        explanation = Explanation(
            feature_id=outcome.windows.feature_id,
            text=outcome.explanation,
            source="llm",
            source_key=f"llm:run:{run_id}",
            model_name=config.explainer,
            provenance=_provenance(config, run_id, outcome),
        )
        session.add(explanation)
        session.flush()
        explanation_id = explanation.id
        for result in outcome.scores:
            row = _score_row(explanation.id, config, result)
            session.add(row)
            session.flush()
            verdicts = [
                {
                    "score_id": row.id,
                    "position": position,
                    "example_id": example.window.example_id,
                    "document_id": example.window.document_id,
                    "source": example.window.source,
                    "activating": example.verdict.activating,
                    "prediction": example.verdict.prediction,
                    "probability": example.verdict.probability,
                    "status": example.verdict.status,
                    "shown": example.shown,
                }
                for position, example in enumerate(result.examples)
            ]
            if verdicts:
                session.execute(insert(AutointerpVerdict), verdicts)
    session.execute(
        insert(AutointerpRunFeature)
        .values(
            run_id=run_id,
            feature_index=outcome.windows.index,
            status="done" if explanation_id is not None else "failed",
            explanation_id=explanation_id,
            error=outcome.error,
        )
        .on_conflict_do_nothing()
    )
