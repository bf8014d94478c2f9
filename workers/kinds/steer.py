"""The `steer` kind: the study's report with and without SAE decoder directions, compared."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from workers.kinds.contract import FeatureRefs, JobKind, JobResult
from workers.kinds.study import StudyJobParams


class SteeredFeature(BaseModel):
    """A feature steered with and its strength (raw residual-stream units)."""

    index: int = Field(ge=0)
    alpha: float


class SteerParams(StudyJobParams):
    """A steer job's parameters; `features` sorted by index."""

    features: list[SteeredFeature] = Field(min_length=1)
    steering_scale: float = Field(description="Multiplies every alpha (a deployment setting).")


class DiffSegment(BaseModel):
    """A run of words equal on both sides, or only in one (insert, delete, replace)."""

    op: Literal["equal", "insert", "delete", "replace"]
    old: str
    new: str


class FindingChangeOut(BaseModel):
    """How one CheXpert observation's label moved from the baseline to the steered report."""

    observation: str
    kind: Literal["appeared", "disappeared", "certainty_changed", "unchanged"]
    baseline: str
    steered: str
    description: str
    baseline_sentences: list[str]
    steered_sentences: list[str]


class FindingSummary(BaseModel):
    """How many observations fall into each kind of change."""

    appeared: int
    disappeared: int
    certainty_changed: int
    unchanged: int


class SteerResult(JobResult):
    """Both reports, their word diff and the finding changes."""

    sae: str
    baseline: str
    steered: str
    baseline_cached: bool
    identical: bool
    features: list[SteeredFeature]
    diff: list[DiffSegment]
    findings: list[FindingChangeOut]
    summary: FindingSummary

    def feature_refs(self) -> FeatureRefs:
        return FeatureRefs(sae=self.sae, indices=sorted({f.index for f in self.features}))


STEER = JobKind(
    name="steer",
    version=2,
    params=SteerParams,
    result=SteerResult,
    handler="workers.live.steer:steer",
    result_template="jobs/result_steer.html",
    result_page="steer_result_page",
)
