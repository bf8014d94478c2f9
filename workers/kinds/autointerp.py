"""The `autointerp` kind: explain and score a batch of one run's features with an LLM."""

from __future__ import annotations

from pydantic import Field

from workers.kinds.contract import FeatureRefs, JobKind, JobParams, JobResult


class AutointerpParams(JobParams):
    """One batch of an autointerp run (the run row holds the settings)."""

    run_id: str = Field(min_length=1)
    sae: str
    indices: list[int] = Field(min_length=1)


class AutointerpResult(JobResult):
    """Which of the batch's features got an explanation with scores, and which failed."""

    run_id: str
    sae: str
    done: list[int]
    failed: list[int]

    def feature_refs(self) -> FeatureRefs:
        return FeatureRefs(sae=self.sae, indices=sorted(self.done + self.failed))


AUTOINTERP = JobKind(
    name="autointerp",
    version=1,
    params=AutointerpParams,
    result=AutointerpResult,
    handler="workers.autointerp.job:autointerp",
    result_template="jobs/result_default.html",
)
