"""What the API says about features: list pages and the full feature record."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticUseDefault

from app.schemas.review import ReviewSummary
from app.schemas.saes import SaeRef

FeatureSort = Literal["index", "f1", "-f1", "frequency", "-frequency", "review", "-review"]
ReviewState = Literal["unreviewed", "reviewed", "disputed"]


class FeatureListItem(BaseModel):
    """One row of the feature list."""

    index: int
    group: int
    label: str | None
    f1: float | None = Field(description="Detection F1 of the primary label (held-out).")
    frequency: float | None = Field(
        description="Share of tokens on which the feature fires, as a fraction (0.01 = 1%)."
    )
    max_activation: float | None
    review_mean: float | None = Field(
        description="Mean radiologist rating (1 to 5) from campaigns that are closed or not "
        "blinded; null when unreviewed."
    )
    review_state: ReviewState


class FeatureListPage(BaseModel):
    """One page of features; pass `next_cursor` (or `previous_cursor`) back as `cursor`."""

    sae: SaeRef
    data: list[FeatureListItem]
    count: int = Field(
        description="Features matching the filters, on all pages: exact when `count_exact`, "
        "otherwise an estimate (rounded to two significant digits) so that the count costs the "
        "same on any SAE size. Without filters it is always exact."
    )
    count_exact: bool
    page: int = Field(description="Number of this page (1 = first), counted along the cursors.")
    pages: int = Field(description="Pages at `limit` per page; an estimate when `count` is one.")
    next_cursor: str | None = Field(description="`cursor` of the next page; null on the last.")
    previous_cursor: str | None = Field(
        description="`cursor` of the previous page; null on the first."
    )


class Histogram(BaseModel):
    """Activation histogram over the tokens where the feature is active."""

    edges: list[float] = Field(description="Bin edges; one more than counts.")
    counts: list[int]


class ScoreOut(BaseModel):
    """One scoring of an explanation on one split."""

    kind: str = Field(description="Scoring method, e.g. 'detection'.")
    accuracy: float | None
    balanced_accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    n: int | None


class ExplanationOut(BaseModel):
    """A label of the feature with its scores, train and held-out kept apart."""

    id: int
    text: str
    source: str = Field(
        description="'csv' (imported autointerp file), 'llm', 'human' or 'heuristic' (a rule, "
        "e.g. the demo's keyword labels)."
    )
    source_key: str
    model_name: str | None
    provenance: dict = Field(
        default_factory=dict,
        description="Where the label came from; for 'human' labels the review campaign and "
        "the kind ('adjudicated' or 'consensus') with the adjudicator or the agreeing reviewers.",
    )
    is_primary: bool = Field(
        description="The label shown for the feature (by the label precedence setting, then "
        "best held-out F1)."
    )
    train: list[ScoreOut] = Field(description="Scores on the examples the label was written from.")
    heldout: list[ScoreOut] = Field(description="Scores on held-out examples.")


class ExampleOut(BaseModel):
    """A window of a report, cut at word boundaries, with the feature's value on each token."""

    document: str = Field(description="The report's id in its corpus.")
    start: int = Field(description="Document position of the first token.")
    tokens: list[str]
    values: list[float] = Field(description="One per token.")
    sampled_value: float = Field(
        description="Value on the token this example was chosen for: a top activation, or the "
        "token drawn for an interval sample."
    )
    sampled_position: int = Field(description="Document position of the chosen token.")
    sampled_offset: int = Field(description="Position of the chosen token within `tokens`.")
    max_value: float = Field(description="Largest value in `values`.")
    max_position: int = Field(description="Document position of the largest value (first one).")
    max_offset: int = Field(description="Position of the largest value within `tokens`.")


class IntervalOut(BaseModel):
    """Examples sampled from the tokens whose value falls in (bin_min, bin_max]."""

    bin_min: float
    bin_max: float
    share: float | None = Field(description="Share of the feature's active tokens in the interval.")
    examples: list[ExampleOut]


class NeighbourOut(BaseModel):
    """A feature whose decoder direction is close to this one's."""

    index: int
    cosine: float
    label: str | None
    f1: float | None


class FeatureDetail(BaseModel):
    """Everything known about one feature."""

    sae: SaeRef
    index: int
    group: int
    label: str | None
    f1: float | None
    frequency: float | None
    n_active: int | None
    n_tokens: int | None
    max_activation: float | None
    mean_activation: float | None
    dead: bool = Field(description="Never active on the scored corpus.")
    histogram: Histogram | None
    explanations: list[ExplanationOut]
    top_examples: list[ExampleOut]
    intervals: list[IntervalOut]
    neighbours: list[NeighbourOut]
    previous_index: int | None
    next_index: int | None
    review: ReviewSummary = Field(
        description="Radiologists' ratings from review campaigns that are closed or not blinded."
    )


class ReportSpan(BaseModel):
    """A stretch of the report whose values are known: one stored example window."""

    start: int = Field(description="First token (inclusive).")
    end: int = Field(description="Last token (exclusive).")
    kind: str = Field(description="'top' or 'interval': the kind of example stored there.")
    sampled_position: int = Field(description="The token the example was chosen for.")


class FeatureReport(BaseModel):
    """A whole report with one feature's value on every token where it is stored."""

    sae: SaeRef
    index: int = Field(description="The feature.")
    label: str | None
    document: str = Field(description="The report's id in its corpus.")
    corpus: str = Field(description="Slug of the corpus the report belongs to.")
    tokens: list[str] = Field(description="Every token of the report.")
    values: list[float | None] = Field(
        description="The feature's value on each token; null where it was not stored (only the "
        "windows around this feature's examples are kept)."
    )
    word_starts: list[int] = Field(description="Offsets in `tokens` where a word begins.")
    known: list[ReportSpan] = Field(description="The stored windows, in report order.")
    n_known: int = Field(description="Tokens with a known value.")
    max_value: float | None = Field(description="Largest known value; null when none is known.")


class FeatureQuery(BaseModel):
    """Filters, order and page of the feature list (query parameters; empty values are unset)."""

    q: str | None = Field(None, max_length=200, description="Full-text search in labels.")
    min_f1: float | None = Field(None, ge=0, le=1)
    max_f1: float | None = Field(None, ge=0, le=1)
    min_frequency: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Lowest frequency as a fraction of tokens, 0 to 1 (0.01 = 1%). The HTML "
        "page takes percent instead (`min_frequency_pct`).",
    )
    max_frequency: float | None = Field(
        None, ge=0, le=1, description="Highest frequency as a fraction of tokens, 0 to 1."
    )
    review: ReviewState | None = Field(
        None,
        description="Review state from campaigns that are closed or not blinded: 'unreviewed', "
        "'reviewed' (any rating or verdict, disputed ones included) or 'disputed' (two ratings "
        "at least 2 points apart and no adjudication).",
    )
    sort: FeatureSort = Field(
        "index", description="'review' orders by mean radiologist rating (unreviewed last)."
    )
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(
        None,
        max_length=500,
        description="`next_cursor` or `previous_cursor` of a page; absent for the first page.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise PydanticUseDefault()
        return value

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> FeatureQuery:
        if self.min_f1 is not None and self.max_f1 is not None and self.min_f1 > self.max_f1:
            raise ValueError("min_f1 must not exceed max_f1")
        if (
            self.min_frequency is not None
            and self.max_frequency is not None
            and self.min_frequency > self.max_frequency
        ):
            raise ValueError("min_frequency must not exceed max_frequency")
        return self

    def filters(self) -> dict[str, object]:
        """The filter values without order and page, e.g. for links that keep the filters."""
        return self.model_dump(exclude={"cursor", "limit"}, exclude_defaults=True)
