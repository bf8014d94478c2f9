"""The `steer` kind: the study's report with and without SAE decoder directions, compared; with
an alpha sweep, one steered report per alpha step from the same batched generate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from workers.kinds.contract import NOT_KEYED, FeatureRefs, JobKind, JobResult
from workers.kinds.study import StudyJobParams

MAX_SWEEP = 8


class SteeredFeature(BaseModel):
    """A feature steered with and its strength at each sweep step (raw residual-stream units)."""

    index: int = Field(ge=0)
    alphas: list[float] = Field(min_length=1, max_length=MAX_SWEEP)


class SteerParams(StudyJobParams):
    """A steer job's parameters; `features` sorted by index, all with as many alphas (steps)."""

    features: list[SteeredFeature] = Field(min_length=1)
    steering_scale: float = Field(description="Multiplies every alpha (a deployment setting).")
    targets: list[str] = Field(
        default_factory=list,
        description="CheXpert observations the steering aims at (on-target changes).",
    )
    mean_token_norm: float | None = Field(
        None,
        json_schema_extra=NOT_KEYED,
        description="The SAE's mean token norm when queued, to show alpha relative to it.",
    )

    def alpha_rows(self) -> list[list[float]]:
        """One row per sweep step: each feature's alpha at that step."""
        steps = len(self.features[0].alphas)
        return [[feature.alphas[step] for feature in self.features] for step in range(steps)]


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


class SteerRun(BaseModel):
    """One sweep step: its alphas (one per feature), the steered report and what changed."""

    alphas: list[float]
    steered: str
    identical: bool
    diff: list[DiffSegment]
    findings: list[FindingChangeOut]
    summary: FindingSummary
    on_target: list[str] = Field(description="Target observations that changed.")
    off_target: list[str] = Field(description="Other observations that changed.")


class SteerResult(JobResult):
    """The baseline, and per sweep step the steered report, its word diff and finding changes."""

    sae: str
    baseline: str
    baseline_cached: bool
    features: list[SteeredFeature]
    targets: list[str]
    runs: list[SteerRun]
    steering_scale: float = 1.0
    mean_token_norm: float | None = Field(
        None, description="The SAE's mean token norm: alpha × steering_scale / it is relative."
    )

    def relative(self, alpha: float) -> float | None:
        """A raw alpha as a fraction of the mean token norm (None when unknown)."""
        if not self.mean_token_norm:
            return None
        return alpha * self.steering_scale / self.mean_token_norm

    def feature_refs(self) -> FeatureRefs:
        return FeatureRefs(sae=self.sae, indices=sorted({f.index for f in self.features}))


STEER = JobKind(
    name="steer",
    version=3,
    params=SteerParams,
    result=SteerResult,
    handler="workers.live.steer:steer",
    result_template="jobs/result_steer.html",
    result_page="steer_result_page",
)
