"""Settings of one autointerp run, with the presets (ours and the MAIRA-2 paper's protocol)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workers.autointerp.prompts import PROMPT_VERSION

Preset = Literal["default", "paper"]


class AutointerpConfig(BaseModel):
    """What a run explains and scores with; stored with the run and in every result's provenance."""

    model_config = ConfigDict(frozen=True)

    explainer: str = Field(min_length=1, max_length=200)
    scorer: str = Field(min_length=1, max_length=200)
    endpoint_kind: Literal["openai", "azure"] = "openai"
    base_url: str = Field(min_length=1, max_length=500)
    preset: Preset = "default"
    prompt_version: str = PROMPT_VERSION
    seed: int = 0
    explain_fraction: float = Field(
        0.5, gt=0, lt=1, description="Share of documents whose windows may explain."
    )
    interval_share: float = Field(
        0.5, ge=0, le=1, description="Share of activating windows drawn from interval samples."
    )
    n_explain_activating: int = Field(20, ge=1, le=200)
    n_explain_non_activating: int = Field(10, ge=0, le=200)
    n_score_activating: int = Field(20, ge=1, le=500)
    n_score_non_activating: int = Field(20, ge=1, le=500)
    hard_negative_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of non-activating windows that are hard negatives (a decoder-cosine "
        "neighbour fires) when the window sample has enough.",
    )
    examples_per_prompt: int = Field(5, ge=1, le=50)
    fuzzing: bool = True
    train_scores: bool = Field(True, description="Also score the explanation windows (in-sample).")
    logprobs: bool = Field(True, description="Ask for log-probabilities (AUC) when scoring.")
    token_budget: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _paper_preset(self) -> AutointerpConfig:
        if self.preset == "paper" and (
            self.n_explain_activating,
            self.n_explain_non_activating,
            self.n_score_activating,
            self.n_score_non_activating,
            self.interval_share,
        ) != (25, 25, 100, 100, 0.0):
            raise ValueError("the paper preset fixes its sizes: use with_preset('paper')")
        return self


PAPER = {
    "n_explain_activating": 25,
    "n_explain_non_activating": 25,
    "n_score_activating": 100,
    "n_score_non_activating": 100,
    "interval_share": 0.0,
}
"""Bouzid et al. 2025: 25 top-decile activating + 25 non-activating exemplars to explain, 200
held-out samples scored with detection F1."""


def with_preset(preset: Preset, **values: object) -> AutointerpConfig:
    """A config with a preset's sizes (the paper's protocol, or our defaults) and `values`."""
    sizes = PAPER if preset == "paper" else {}
    return AutointerpConfig.model_validate({**values, **sizes, "preset": preset})
