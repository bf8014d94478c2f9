"""What the review services take and return: campaign specs, queue items, ratings, progress,
agreement statistics and export rows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

MAX_CAMPAIGN_FEATURES = 50_000
Meaningful = Literal["yes", "no", "unsure"]
Category = Literal[
    "finding",
    "device",
    "anatomy",
    "negation_or_uncertainty",
    "comparison_or_change",
    "report_structure_or_style",
    "other",
]
Verdict = Literal["correct", "wrong", "corrected"]


class ExplicitSelection(BaseModel):
    """Exactly these features."""

    kind: Literal["explicit"] = "explicit"
    indices: list[Annotated[int, Field(ge=0)]] = Field(
        min_length=1, max_length=MAX_CAMPAIGN_FEATURES
    )


class StratifiedSelection(BaseModel):
    """A seeded sample of `size` features, stratified by the label's detection F1 (bins at
    `f1_edges`; unscored labels form their own stratum) times frequency deciles, each stratum
    getting its proportional share (largest remainders round)."""

    kind: Literal["stratified"] = "stratified"
    size: int = Field(ge=1, le=MAX_CAMPAIGN_FEATURES)
    f1_edges: list[Annotated[float, Field(ge=0, le=1)]] = Field(
        default=[0.0, 0.25, 0.5, 0.75, 1.0], min_length=2, max_length=21
    )
    frequency_bins: int = Field(10, ge=1, le=100)

    @model_validator(mode="after")
    def _increasing(self) -> StratifiedSelection:
        if any(b <= a for a, b in zip(self.f1_edges, self.f1_edges[1:], strict=False)):
            raise ValueError("f1_edges must increase")
        return self


class FilterSelection(BaseModel):
    """The features the feature list shows for these filters, lowest index first, up to
    `limit`."""

    kind: Literal["filters"] = "filters"
    q: str | None = Field(None, max_length=200)
    min_f1: float | None = Field(None, ge=0, le=1)
    max_f1: float | None = Field(None, ge=0, le=1)
    min_frequency: float | None = Field(None, ge=0, le=1)
    max_frequency: float | None = Field(None, ge=0, le=1)
    review: Literal["unreviewed", "reviewed", "disputed"] | None = None
    limit: int = Field(1000, ge=1, le=MAX_CAMPAIGN_FEATURES)


Selection = Annotated[
    ExplicitSelection | StratifiedSelection | FilterSelection, Field(discriminator="kind")
]


class CampaignSpec(BaseModel):
    """What an admin asks for when creating a campaign."""

    name: str = Field(min_length=1, max_length=200)
    selection: Selection
    label_source: str | None = Field(
        None,
        max_length=200,
        description="`source_key` of the explanations under review; absent: each feature's "
        "primary (best-scored) label.",
    )
    reviewers_per_feature: int = Field(2, ge=1, le=100)
    overlap_size: int = Field(
        0, ge=0, le=MAX_CAMPAIGN_FEATURES, description="Features every reviewer rates."
    )
    blinded: bool = True
    decoy_share: float = Field(
        0.1, ge=0, le=0.5, description="Share of all items that show a borrowed label."
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)


class CampaignSummary(BaseModel):
    """A campaign as stored."""

    id: int
    name: str
    sae: str = Field(description="Slug of the SAE.")
    selection: dict
    label_source: str | None
    reviewers_per_feature: int
    overlap_size: int
    blinded: bool
    decoy_share: float
    seed: int
    status: Literal["open", "closed"]
    n_items: int
    n_decoys: int
    created_by: int | None
    created_at: datetime


class ReviewItem(BaseModel):
    """The next thing a reviewer rates: a feature and a label (never whether it is a decoy).
    `label_source` and `label_f1` are absent in blinded campaigns."""

    campaign_id: int
    item_id: int
    sae: str
    feature_index: int
    label: str
    remaining: int = Field(description="Items still open to this reviewer, this one included.")
    label_source: str | None = None
    label_f1: float | None = None
    answer: Answer | None = Field(None, description="This reviewer's earlier answer, if any.")


class Answer(BaseModel):
    """A reviewer's answer on one item."""

    rating: int = Field(ge=1, le=5, description="1 wrong ... 5 exact.")
    meaningful: Meaningful | None = None
    category: Category | None = None
    corrected_label: str | None = Field(None, max_length=500)
    comment: str | None = Field(None, max_length=2000)


class StoredAnswer(BaseModel):
    """A stored rating or skip."""

    item_id: int
    feature_index: int
    rating: int | None
    meaningful: Meaningful | None
    category: Category | None
    corrected_label: str | None
    comment: str | None
    skipped: bool
    updated_at: datetime


class ReviewerProgress(BaseModel):
    """One reviewer's work so far."""

    reviewer: str = Field(description="Pseudonym (R1, R2, ...) unless identities were asked for.")
    rated: int
    skipped: int
    remaining: int = Field(description="Items still open to this reviewer.")


class CampaignProgress(BaseModel):
    """How far a campaign is."""

    campaign_id: int
    n_items: int
    ratings: int
    items_complete: int = Field(
        description="Items with all the ratings they need (overlap items: one per reviewer "
        "who has started)."
    )
    items_remaining: int
    reviewers: list[ReviewerProgress]


class Estimate(BaseModel):
    """A statistic with its bootstrap 95% interval; null where it is undefined."""

    estimate: float | None
    low: float | None
    high: float | None
    n: int


class PairAgreement(BaseModel):
    reviewer_a: str
    reviewer_b: str
    kappa: Estimate


class DecoyCheck(BaseModel):
    reviewer: str
    accepted: int
    n: int
    share: float


class DisputedFeature(BaseModel):
    item_id: int
    feature_index: int
    label: str
    n: int
    mean: float
    variance: float
    spread: int
    adjudication: Verdict | None = Field(
        None, description="The admin's final verdict on this feature, if one is recorded."
    )


class RatingVsF1(BaseModel):
    """One feature's mean rating beside its label's detection F1 (a dot of the results chart)."""

    feature_index: int
    mean_rating: float
    n_ratings: int
    f1: float


class CampaignStats(BaseModel):
    """Agreement and validity of a campaign's ratings (decoys only in `decoy_acceptance`)."""

    campaign_id: int
    n_ratings: int
    bootstrap_replicates: int
    kappa_weights: Literal["linear", "quadratic"]
    krippendorff_alpha: Estimate
    pairwise_kappa: list[PairAgreement]
    fleiss_kappa: Estimate = Field(description="On the clinically-meaningful question.")
    decoy_acceptance: list[DecoyCheck]
    rating_vs_f1: Estimate = Field(description="Spearman's rho, mean rating vs label F1.")
    rating_vs_f1_points: list[RatingVsF1] = Field(
        description="The pairs rho rests on: every rated real feature whose label has an F1."
    )
    disputed: list[DisputedFeature]


class ExportRow(BaseModel):
    """One rating or skip, flat, for CSV and JSON export."""

    campaign_id: int
    item_id: int
    feature_index: int
    label: str
    label_source: str
    is_decoy: bool
    decoy_source_index: int | None
    is_overlap: bool
    reviewer: str
    rating: int | None
    meaningful: str | None
    category: str | None
    corrected_label: str | None
    comment: str | None
    skipped: bool
    created_at: datetime
    updated_at: datetime


class AdjudicationSpec(BaseModel):
    """An admin's final verdict on a disputed feature: its label is correct, wrong, or should
    read `corrected_label` (given exactly when the verdict is 'corrected')."""

    verdict: Verdict
    corrected_label: str | None = Field(None, max_length=500)
    note: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _corrected_label_with_correction(self) -> AdjudicationSpec:
        label = (self.corrected_label or "").strip() or None
        if (self.verdict == "corrected") != (label is not None):
            raise ValueError("give corrected_label exactly when the verdict is 'corrected'")
        self.corrected_label = label
        return self


class Adjudication(BaseModel):
    """A recorded verdict (`adjudicator_id` is a user id)."""

    campaign_id: int
    feature_index: int
    verdict: Verdict
    corrected_label: str | None
    note: str | None
    adjudicator_id: int
    created_at: datetime
    updated_at: datetime


class ReviewVerdict(BaseModel):
    """An adjudication as the public feature page shows it (without the adjudicator)."""

    campaign_id: int
    verdict: Verdict
    corrected_label: str | None
    note: str | None
    decided_at: datetime


class ReviewSummary(BaseModel):
    """Radiologists' ratings of a feature's labels in campaigns that are closed or not blinded
    (decoy items left out)."""

    state: Literal["unreviewed", "reviewed", "disputed"] = Field(
        description="'disputed': two ratings at least 2 points apart and no adjudication."
    )
    mean_rating: float | None = Field(description="1 (wrong) to 5 (exact).")
    n_ratings: int
    n_reviewers: int
    agreement: float | None = Field(
        description="Share of the ratings within 1 point of their median."
    )
    verdicts: list[ReviewVerdict]


ReviewItem.model_rebuild()


class NewCampaign(CampaignSpec):
    """A campaign spec for the SAE named `sae` (the body of `POST /campaigns`)."""

    sae: str = Field(min_length=1, max_length=200, description="Slug of the SAE to review.")


class NewAdjudication(AdjudicationSpec):
    """A verdict on the campaign's feature `feature_index` (body of `POST .../adjudications`)."""

    feature_index: int = Field(ge=0, le=2**31 - 1)


class NewRating(Answer):
    """An answer on the item `item_id` (the body of `POST .../ratings`)."""

    item_id: int = Field(ge=1, le=2**63 - 1)


class CampaignList(BaseModel):
    data: list[CampaignSummary]


class AnswerList(BaseModel):
    data: list[StoredAnswer]


class ExportList(BaseModel):
    data: list[ExportRow]


class AdjudicationList(BaseModel):
    data: list[Adjudication]
