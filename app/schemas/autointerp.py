"""Autointerp runs in the JSON API: the request that starts one and the run as it is shown."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class FailedFeature(BaseModel):
    """A feature the run could not explain, and why."""

    index: int
    error: str | None


class AutointerpRunOut(BaseModel):
    """A run: settings, status, progress (features, ETA, calls, tokens, failures)."""

    id: uuid.UUID
    sae: str
    status: Literal["queued", "running", "done", "failed"]
    config: dict[str, Any]
    n_features: int
    n_done: int
    n_failed: int
    n_remaining: int
    eta_s: float | None
    n_calls: int
    n_cached: int
    n_failed_calls: int
    prompt_tokens: int
    completion_tokens: int
    token_budget: int | None
    remote_warning: str | None = Field(
        description="Set when the endpoint is off site: report text left (or would leave) it."
    )
    failed_features: list[FailedFeature]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    url: str
    api_url: str


class MetricOut(BaseModel):
    """A metric with its bootstrap 95% interval (all None when undefined on the data)."""

    value: float | None
    low: float | None
    high: float | None


class VerdictOut(BaseModel):
    """One scored example: what the scorer saw, the truth and its answer."""

    position: int
    document_id: int
    example_id: int | None
    source: str = Field(description="top, interval (activating), neighbour or random (not).")
    activating: bool
    prediction: bool | None = Field(description="None when unparseable or the call failed.")
    probability: float | None
    status: Literal["ok", "unparseable", "failed"]
    shown: str


class ScoreSummaryOut(BaseModel):
    """One score of an LLM explanation with its intervals and counts."""

    id: int
    kind: str = Field(description="detection, fuzzing or detection_control (borrowed label).")
    split: Literal["train", "heldout"]
    n: int | None = Field(description="Answered examples (what the metrics are computed on).")
    n_total: int
    n_unparseable: int
    n_failed: int
    metrics: dict[str, MetricOut]
    scorer: str | None
    borrowed_from: int | None = Field(None, description="Control: the feature lent its label.")
    borrowed_label: str | None = None


class ScoreDetailOut(ScoreSummaryOut):
    """One score of an LLM explanation with its intervals, counts and every verdict."""

    verdicts: list[VerdictOut]


class ExplanationDetailOut(BaseModel):
    """An explanation with its provenance and every score's per-example verdicts."""

    id: int
    sae: str
    feature_index: int
    text: str
    source: str
    model_name: str | None
    provenance: dict[str, Any]
    scores: list[ScoreDetailOut]


class ExportedExplanation(BaseModel):
    """A run's explanation of one feature, with provenance and scores (no verdicts)."""

    id: int
    text: str
    model_name: str | None
    provenance: dict[str, Any]
    scores: list[ScoreSummaryOut]


class ExportedFeature(BaseModel):
    """One feature of a run: done with its explanation, or failed with the reason."""

    index: int
    status: Literal["done", "failed"]
    error: str | None
    explanation: ExportedExplanation | None


class RunExportOut(BaseModel):
    """A run's settings and progress, and a page of its results (features by index)."""

    run: AutointerpRunOut
    offset: int
    limit: int
    features: list[ExportedFeature]
