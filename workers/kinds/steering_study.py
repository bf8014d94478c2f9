"""The `steering_study_part` kind: a slice of a steering study's studies, each written once plain
and once per (feature, alpha) in ONE batched generate, with the finding changes split into on- and
off-target. A steering study (table `steering_studies`) is one or more such parts."""

from __future__ import annotations

from pydantic import BaseModel, Field

from workers.kinds.contract import FeatureRefs, JobKind, JobParams, JobResult
from workers.kinds.study import StudyParams

MAX_STUDY_FEATURES = 4
MAX_STUDY_ALPHAS = 8
MAX_STUDIES = 200


class FeatureTargets(BaseModel):
    """A steered feature and the CheXpert observations its on-target changes are counted on."""

    index: int = Field(ge=0)
    targets: list[str]


class StudyPartParams(JobParams):
    """One part: the studies it writes, the features and raw alphas, generation settings."""

    model: str
    sae: str
    sae_weights_sha256: str | None
    studies: list[StudyParams] = Field(min_length=1, max_length=MAX_STUDIES)
    features: list[FeatureTargets] = Field(min_length=1, max_length=MAX_STUDY_FEATURES)
    alphas: list[float] = Field(
        min_length=1, max_length=MAX_STUDY_ALPHAS, description="Raw residual-stream units."
    )
    steering_scale: float
    max_new_tokens: int = Field(ge=1)
    seed: int = Field(0, ge=0)
    greedy: bool = True


class StudyRun(BaseModel):
    """One feature at one alpha on one study: the steered report and what changed."""

    feature: int
    alpha: float
    steered: str
    on_target: list[str]
    off_target: list[str]


class StudyOutcome(BaseModel):
    """One study: its baseline report and a run per (feature, alpha), features outermost."""

    baseline: str
    runs: list[StudyRun]


class StudyPartResult(JobResult):
    """Each study of the part, in the order of the params."""

    sae: str
    studies: list[StudyOutcome]

    def feature_refs(self) -> FeatureRefs:
        indices = {run.feature for study in self.studies for run in study.runs}
        return FeatureRefs(sae=self.sae, indices=sorted(indices))


STEERING_STUDY_PART = JobKind(
    name="steering_study_part",
    version=1,
    params=StudyPartParams,
    result=StudyPartResult,
    handler="workers.live.steering_study:steering_study_part",
    result_template="jobs/result_steering_study_part.html",
)
