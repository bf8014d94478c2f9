"""Requests and answers of the steering-study endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from app.schemas.live import AlphaValue, StudyRef
from app.schemas.study_sets import StudySetChoice
from workers.findings.phrases import OBSERVATIONS
from workers.kinds.steering_study import MAX_STUDIES, MAX_STUDY_ALPHAS, MAX_STUDY_FEATURES

MAX_PARTS = 32
STUDY_MAX_NEW_TOKENS = 150
Observation = Literal[OBSERVATIONS]  # type: ignore[valid-type]


class SteeringStudyRequest(BaseModel):
    """Steer features over many studies at chosen alphas and measure on/off-target changes."""

    sae: str = Field(description="Slug of the SAE whose decoder rows steer the model.")
    features: list[int] = Field(
        min_length=1, max_length=MAX_STUDY_FEATURES, description="Feature indices, each alone."
    )
    alphas: list[AlphaValue] = Field(
        min_length=1,
        max_length=MAX_STUDY_ALPHAS,
        description="Steering strengths; give +a and -a to get the up/down correlation.",
    )
    alpha_unit: Literal["raw", "norm"] = Field(
        "raw", description="raw: residual-stream units; norm: fractions of the mean token norm."
    )
    targets: list[Observation] | None = Field(
        None,
        max_length=len(OBSERVATIONS),
        description="CheXpert observations counted as on-target for every feature; default: "
        "those each feature's label names.",
    )
    studies: list[StudyRef] | None = Field(
        None,
        min_length=1,
        max_length=MAX_STUDIES,
        description="Studies (stored uploads and text); give these or `study_set`.",
    )
    study_set: StudySetChoice | None = Field(
        None,
        description="A study set on the server (GET /study-sets; the demo's held-out synthetic "
        "studies are `demo-held-out`) instead of `studies`.",
    )
    parts: int | None = Field(
        None,
        ge=1,
        le=MAX_PARTS,
        description="Queue jobs to split the studies into; default: one per running worker.",
    )
    max_new_tokens: int = Field(60, ge=1, le=STUDY_MAX_NEW_TOKENS)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    greedy: bool = True

    @model_validator(mode="after")
    def _one_source_of_studies(self) -> SteeringStudyRequest:
        if (self.studies is None) == (self.study_set is None):
            raise ValueError("Give either `studies` or `study_set`, not both or neither.")
        return self


class ShareOut(BaseModel):
    """A count of the studies, its share and 95% Wilson interval."""

    count: int
    share: float
    low: float
    high: float


class CellOut(BaseModel):
    """One feature at one alpha: the share of reports in each outcome class."""

    alpha: float = Field(description="Raw units.")
    alpha_relative: float | None = Field(description="alpha as a fraction of the mean norm.")
    n: int
    on_only: ShareOut
    off_only: ShareOut
    both: ShareOut
    none: ShareOut


class CorrelationOut(BaseModel):
    """Steering up (+alpha) against down (-alpha) over the same studies."""

    alpha: float
    n: int
    on_target: float | None = Field(description="Pearson r (phi) of on-target change, up/down.")
    any_change: float | None = Field(description="Pearson r (phi) of any change, up/down.")


class FeatureResults(BaseModel):
    """A feature's targets, per-alpha outcome shares and up/down correlations."""

    index: int
    targets: list[str]
    cells: list[CellOut]
    correlations: list[CorrelationOut]


class PartOut(BaseModel):
    """One queue job of the study."""

    id: uuid.UUID
    status: str
    progress: float
    n_studies: int
    error: str | None
    url: str


class SteeringStudyOut(BaseModel):
    """A steering study: its request, progress over its parts and, once done, its results."""

    id: uuid.UUID
    sae: str
    features: list[int]
    alphas: list[float] = Field(description="Raw units.")
    alpha_unit: str
    mean_token_norm: float | None
    n_studies: int
    study_set: str | None = Field(None, description="The study set the studies came from.")
    created_at: datetime
    status: Literal["running", "succeeded", "failed"]
    progress: float
    parts: list[PartOut]
    results: list[FeatureResults] | None
    url: str
    csv_url: str


class SteeringStudyAccepted(BaseModel):
    """A queued steering study; poll `api_url` or open `url`."""

    id: uuid.UUID
    parts: int
    url: str
    api_url: str
