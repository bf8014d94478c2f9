"""Review outcomes on PostgreSQL: consensus and adjudicated human labels, the label precedence
setting, per-feature review summaries, blinding, and the stored aggregates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.schemas.review import AdjudicationSpec, Answer, CampaignSpec, FilterSelection
from app.services import review
from app.services.review.adjudication import (
    adjudicate,
    list_adjudications,
    withdraw_adjudication,
)
from db.labels import refresh_primary_labels
from db.models import CampaignItem, Explanation, Feature, Sae
from db.settings import Settings, get_settings
from tests.support.review import answer_all, campaign, labelled_sae, make_reviewers


def _feature(session: Session, sae: Sae, index: int) -> Feature:
    session.expire_all()
    return session.scalars(select(Feature).filter_by(sae_id=sae.id, index=index)).one()


def _human(session: Session, sae: Sae, index: int) -> list[Explanation]:
    feature = _feature(session, sae, index)
    query = select(Explanation).filter_by(feature_id=feature.id, source="human")
    return list(session.scalars(query.order_by(Explanation.source_key)))


def _corrected(rating: int, label: str | None) -> Answer:
    return Answer(rating=rating, corrected_label=label)


@pytest.fixture
def sae(session: Session) -> Sae:
    return labelled_sae(session)


@pytest.fixture
def users(session: Session) -> dict[int, int]:
    """Reviewer (and adjudicator) accounts by number."""
    return make_reviewers(session, 1, 2, 3, 4, 7, 9, 11, 12, 13, 98, 99)


def test_normalised_corrections_agree_only_with_two_reviewers_and_a_majority(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    def consensus(answers: dict[int, str | None]) -> tuple[str, list[int]] | None:
        c = campaign(session, sae, [4], blinded=False, reviewers=len(answers))
        for reviewer, label in answers.items():
            answer_all(session, c, users[reviewer], {4: _corrected(3, label)})
        human = [e for e in _human(session, sae, 4) if e.source_key == f"review:{c}:consensus"]
        return (human[0].text, human[0].provenance["reviewer_ids"]) if human else None

    pair = {7: "Left pleural effusion", 3: "left  pleural EFFUSION.", 9: None}
    assert consensus(pair) == ("left pleural EFFUSION", [users[3], users[7]])
    trio = {7: pair[7], 3: pair[3], 9: " Left pleural\teffusion!", 1: "effusion"}
    assert consensus(trio) == ("Left pleural effusion", [users[3], users[7], users[9]])
    assert consensus({1: "effusion", 2: None, 3: None}) is None
    assert consensus({1: "effusion", 2: "effusion", 3: "a", 4: "b"}) is None
    assert consensus({1: "effusion"}) is None
    assert consensus({1: " . ", 2: "!"}) is None


def test_consensus_correction_becomes_the_shown_human_label_with_provenance(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    c = campaign(session, sae, [0, 1, 2], blinded=False)
    answer_all(session, c, users[11], {1: _corrected(2, "Left pleural effusion")})
    answer_all(session, c, users[12], {1: _corrected(2, "left pleural  effusion.")})
    assert _feature(session, sae, 1).label == "Left pleural effusion"  # both who rated agree
    answer_all(session, c, users[13], {1: _corrected(3, None)})

    [human] = _human(session, sae, 1)
    assert human.text == "Left pleural effusion"
    assert human.source_key == f"review:{c}:consensus"
    assert human.provenance == {
        "kind": "consensus",
        "campaign_id": c,
        "reviewer_ids": [users[11], users[12]],
    }
    feature = _feature(session, sae, 1)
    assert (feature.label, feature.f1) == ("Left pleural effusion", None)
    assert _human(session, sae, 0) == []  # nobody corrected feature 0
    assert _feature(session, sae, 0).label == "finding 0"

    # A reviewer changes their mind: no majority any more, the LLM label is back.
    item = review.answers(session, campaign_id=c, reviewer_id=users[12], item_id=None, limit=10)
    item_id = next(a.item_id for a in item if a.feature_index == 1)
    review.rate(
        session, campaign_id=c, item_id=item_id, reviewer_id=users[12], answer=Answer(rating=4)
    )
    assert _human(session, sae, 1) == []
    assert _feature(session, sae, 1).label == "finding 1"


def test_label_precedence_setting_is_honoured(
    session: Session, sae: Sae, users: dict[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = campaign(session, sae, [4], blinded=False, reviewers=2)
    for reviewer in (users[1], users[2]):
        answer_all(session, c, reviewer, {4: _corrected(1, "endotracheal tube")})
    assert _feature(session, sae, 4).label == "endotracheal tube"

    monkeypatch.setenv("MAIRA_SAE_LABEL_PRECEDENCE", "llm-best,consensus")
    get_settings.cache_clear()
    try:
        assert get_settings().label_order == ["llm-best", "consensus", "adjudicated"]
        assert refresh_primary_labels(session, sae.id) == 1
        assert _feature(session, sae, 4).label == "finding 4"
    finally:
        get_settings.cache_clear()
    assert refresh_primary_labels(session, sae.id, precedence=["consensus"]) == 1
    assert _feature(session, sae, 4).label == "endotracheal tube"
    with pytest.raises(ValidationError):
        Settings(label_precedence="consensus,best")
    with pytest.raises(ValidationError):
        Settings(label_precedence="consensus,consensus")


def test_adjudication_overrides_consensus_and_can_be_replaced_or_withdrawn(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    c = campaign(session, sae, [5, 6], blinded=False, reviewers=2)
    answer_all(session, c, users[1], {5: _corrected(1, "pneumothorax")})
    answer_all(session, c, users[2], {5: _corrected(5, "pneumothorax")})
    assert _feature(session, sae, 5).label == "pneumothorax"
    assert _feature(session, sae, 5).review_state == "disputed"
    disputed = review.campaign_stats(session, c, n_boot=10).disputed
    assert [(d.feature_index, d.adjudication) for d in disputed] == [(5, None)]

    spec = AdjudicationSpec(verdict="corrected", corrected_label=" right pneumothorax ", note="CT")
    verdict = adjudicate(
        session, campaign_id=c, feature_index=5, adjudicator_id=users[99], spec=spec
    )
    assert (verdict.verdict, verdict.corrected_label, verdict.adjudicator_id) == (
        "corrected", "right pneumothorax", users[99],
    )  # fmt: skip
    [human] = _human(session, sae, 5)  # the verdict replaces the campaign's consensus
    assert human.text == "right pneumothorax"
    assert human.provenance == {
        "kind": "adjudicated", "campaign_id": c, "adjudicator_id": users[99],
        "verdict": "corrected",
    }  # fmt: skip
    feature = _feature(session, sae, 5)
    assert (feature.label, feature.review_state) == ("right pneumothorax", "reviewed")
    disputed = review.campaign_stats(session, c, n_boot=10).disputed
    assert [(d.feature_index, d.adjudication) for d in disputed] == [(5, "corrected")]

    # Replacing: the label under review is confirmed correct.
    adjudicate(
        session, campaign_id=c, feature_index=5, adjudicator_id=users[98],
        spec=AdjudicationSpec(verdict="correct"),
    )  # fmt: skip
    [verdict] = list_adjudications(session, c)
    assert (verdict.verdict, verdict.adjudicator_id, verdict.note) == ("correct", users[98], None)
    [human] = _human(session, sae, 5)
    assert (human.text, human.provenance["kind"]) == ("finding 5", "adjudicated")

    # 'wrong' leaves no human label from this campaign (the consensus stays overruled).
    adjudicate(
        session, campaign_id=c, feature_index=5, adjudicator_id=users[98],
        spec=AdjudicationSpec(verdict="wrong"),
    )  # fmt: skip
    assert _human(session, sae, 5) == []

    withdraw_adjudication(session, campaign_id=c, feature_index=5)
    assert list_adjudications(session, c) == []
    assert [h.provenance["kind"] for h in _human(session, sae, 5)] == ["consensus"]
    assert _feature(session, sae, 5).review_state == "disputed"


def test_adjudication_errors(session: Session, sae: Sae, users: dict[int, int]) -> None:
    c = campaign(session, sae, [5], blinded=False, reviewers=1)
    spec = AdjudicationSpec(verdict="wrong")
    with pytest.raises(review.ItemNotFound):
        adjudicate(session, campaign_id=c, feature_index=6, adjudicator_id=users[1], spec=spec)
    with pytest.raises(review.CampaignNotFound):
        adjudicate(
            session, campaign_id=c + 1000, feature_index=5, adjudicator_id=users[1], spec=spec
        )
    with pytest.raises(review.ItemNotFound):
        withdraw_adjudication(session, campaign_id=c, feature_index=5)
    with pytest.raises(ValidationError):
        AdjudicationSpec(verdict="corrected", corrected_label="  ")
    with pytest.raises(ValidationError):
        AdjudicationSpec(verdict="correct", corrected_label="something else")


def test_blinded_campaign_counts_only_once_closed(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    c = campaign(session, sae, [2, 3], blinded=True, reviewers=2)
    answer_all(session, c, users[1], {2: _corrected(4, "cardiomegaly"), 3: _corrected(1, None)})
    answer_all(session, c, users[2], {2: _corrected(5, "Cardiomegaly"), 3: _corrected(4, None)})
    for index in (2, 3):
        feature = _feature(session, sae, index)
        assert (feature.review_state, feature.review_mean, feature.review_n) == (None, None, None)
    assert _human(session, sae, 2) == []

    review.set_status(session, c, "closed")
    two, three = _feature(session, sae, 2), _feature(session, sae, 3)
    assert (two.review_state, two.review_mean, two.review_n, two.review_reviewers) == (
        "reviewed", 4.5, 2, 2,
    )  # fmt: skip
    assert two.review_agreement == 1.0
    assert two.label == "cardiomegaly"
    assert (three.review_state, three.review_mean, three.review_agreement) == ("disputed", 2.5, 0.0)

    review.set_status(session, c, "open")  # reopened and blinded again: nothing shows
    assert _feature(session, sae, 2).review_state is None
    assert _feature(session, sae, 2).label == "finding 2"


def test_label_changes_refresh_the_stored_aggregates(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    def n_scored() -> int:
        return session.scalar(
            text("SELECT statistics->>'n_scored' FROM sae_aggregates WHERE sae_id = :s"),
            {"s": sae.id},
        )

    before = int(n_scored())
    c = campaign(session, sae, [7], blinded=False, reviewers=2)
    for reviewer in (users[1], users[2]):
        answer_all(session, c, reviewer, {7: _corrected(2, "hilar adenopathy")})
    assert int(n_scored()) == before - 1  # the shown human label has no F1


def test_campaign_selection_by_review_state(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    first = campaign(session, sae, [0, 1], blinded=False, reviewers=1)
    answer_all(session, first, users[1], {})
    spec = CampaignSpec(
        name="Second look",
        selection=FilterSelection(review="unreviewed", max_f1=0.54),
        label_source="llm:t",
        reviewers_per_feature=1,
    )
    second = review.create_campaign(session, sae_id=sae.id, spec=spec, created_by=None)
    items = select(CampaignItem.feature_index).filter_by(campaign_id=second.id)
    assert sorted(session.scalars(items)) == [2, 3, 4]
