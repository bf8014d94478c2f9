"""The `encode` kind: write a study's report and read its SAE features token by token."""

from __future__ import annotations

from pydantic import BaseModel, Field

from workers.kinds.contract import FeatureRefs, JobKind, JobResult
from workers.kinds.study import StudyJobParams


class EncodeParams(StudyJobParams):
    """An encode job's parameters."""

    top_features: int = Field(10, ge=1, le=64, description="Features listed per token.")


class FeatureValue(BaseModel):
    """A feature active on a token, and its value there."""

    index: int
    value: float


class ReportToken(BaseModel):
    """One report token: its text and its strongest features (largest first)."""

    text: str
    features: list[FeatureValue]


class PromptToken(ReportToken):
    """One token of the prompt's free text and the field it belongs to."""

    field: str


class FeatureTotal(BaseModel):
    """A feature over the whole report: sum, max and number of tokens it is active on."""

    index: int
    sum: float
    max: float
    count: int


class EncodeResult(JobResult):
    """The report, each token's features, the prompt's free text and per-feature totals."""

    sae: str
    d_sae: int
    report: str
    baseline_cached: bool = Field(description="The report was reused from an earlier job.")
    max_new_tokens: int | None = Field(None, description="The cap on generated report tokens.")
    tokens: list[ReportToken] = Field(description="The report's tokens (no empty tokens).")
    prompt_tokens: list[PromptToken]
    totals: list[FeatureTotal] = Field(description="By sum, largest first (at most 500).")
    n_active_features: int
    max_value: float

    def feature_refs(self) -> FeatureRefs:
        indices = {total.index for total in self.totals}
        for token in [*self.tokens, *self.prompt_tokens]:
            indices.update(feature.index for feature in token.features)
        return FeatureRefs(sae=self.sae, indices=sorted(indices))


ENCODE = JobKind(
    name="encode",
    version=2,
    params=EncodeParams,
    result=EncodeResult,
    handler="workers.live.encode:encode",
    result_template="jobs/result_encode.html",
    result_page="encode_result_page",
)
