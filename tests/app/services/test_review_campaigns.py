"""Review campaigns on PostgreSQL: creation, the reviewer's queue, progress, stats, export."""

from __future__ import annotations

import csv
import io
import typing

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.schemas.review import (
    Answer,
    CampaignSpec,
    Category,
    ExplicitSelection,
    FilterSelection,
    Meaningful,
    StratifiedSelection,
)
from app.services import review
from app.services.review.campaigns import Labels, near_duplicate, stratified_sample
from db.labels import refresh_primary_labels
from db.models import MEANINGFUL_ANSWERS, REVIEW_CATEGORIES, CampaignItem, Rating, Sae
from tests.support.factories import make_explanation, make_feature, make_sae
from tests.support.review import make_reviewers

N_FEATURES = 60
WORDS = ["pleural", "effusion", "cardiac", "silhouette", "rib", "fracture", "tube", "line",
         "lung", "nodule", "spine", "opacity", "edema", "hilar", "clavicle"]  # fmt: skip


def _label(index: int) -> str:
    return f"{WORDS[index % 15]} {WORDS[(index * 7 + 3) % 15]} {index}"


@pytest.fixture
def sae(session: Session) -> Sae:
    """An SAE whose features 0..59 have a 'csv:test' label with F1 = index / 60."""
    sae = make_sae(session, d_sae=N_FEATURES)
    for index in range(N_FEATURES):
        feature = make_feature(session, sae, index, frequency=0.001 * (index + 1))
        make_explanation(
            session, feature, _label(index), heldout_f1=index / N_FEATURES, source_key="csv:test"
        )
    refresh_primary_labels(session, sae.id)
    return sae


@pytest.fixture
def users(session: Session) -> dict[int, int]:
    """Reviewer accounts by number."""
    return make_reviewers(session, 1, 2, 4, 7, 10, 20, 30)


def _spec(**overrides: typing.Any) -> CampaignSpec:
    values: dict[str, typing.Any] = {
        "name": "Pilot",
        "selection": ExplicitSelection(indices=list(range(10))),
        "label_source": "csv:test",
        "reviewers_per_feature": 2,
        "overlap_size": 0,
        "decoy_share": 0.0,
    }
    return CampaignSpec(**(values | overrides))


def _items(session: Session, campaign_id: int) -> list[CampaignItem]:
    query = select(CampaignItem).where(CampaignItem.campaign_id == campaign_id)
    return list(session.scalars(query.order_by(CampaignItem.position)))


def _drain(session: Session, campaign_id: int, reviewer: int, rating: int = 3) -> list[int]:
    """Rate every item the reviewer is given; the feature indices in the order served."""
    served = []
    while item := review.next_item(session, campaign_id=campaign_id, reviewer_id=reviewer):
        served.append(item.feature_index)
        review.rate(
            session, campaign_id=campaign_id, item_id=item.item_id, reviewer_id=reviewer,
            answer=Answer(rating=rating, meaningful="yes"),
        )  # fmt: skip
    return served


def test_schema_literals_match_the_database_checks() -> None:
    assert typing.get_args(Category) == REVIEW_CATEGORIES
    assert typing.get_args(Meaningful) == MEANINGFUL_ANSWERS


def test_explicit_campaign_has_overlap_and_decoys_outside_the_selection(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    spec = _spec(
        selection=ExplicitSelection(indices=list(range(20))), overlap_size=5, decoy_share=0.2
    )
    campaign = review.create_campaign(session, sae_id=sae.id, spec=spec, created_by=users[7])
    items = _items(session, campaign.id)
    real = [i for i in items if not i.is_decoy]
    decoys = [i for i in items if i.is_decoy]
    assert campaign.n_items == len(items) == 25 and campaign.n_decoys == 5
    assert sorted(i.feature_index for i in real) == list(range(20))
    assert sum(i.is_overlap for i in real) == 5
    assert [i.position for i in items] == list(range(25))
    for item in decoys:
        assert item.feature_index >= 20 and not item.is_overlap
        assert item.decoy_source_index != item.feature_index
        assert not near_duplicate(_label(item.feature_index), item.explanation.text)
        assert item.explanation.text == _label(item.decoy_source_index)
    assert campaign.created_by == users[7] and campaign.sae == sae.slug


def test_near_duplicate_labels_are_told_apart() -> None:
    assert near_duplicate("Left pleural effusion", "pleural effusion, left")
    assert not near_duplicate("Left pleural effusion", "rib fracture")


def test_specs_that_cannot_be_met_are_refused(session: Session, sae: Sae) -> None:
    with pytest.raises(review.InvalidCampaign, match="no label to review: 60, 99"):
        bad = _spec(selection=ExplicitSelection(indices=[1, 60, 99]))
        review.create_campaign(session, sae_id=sae.id, spec=bad, created_by=None)
    with pytest.raises(review.InvalidCampaign, match="overlap"):
        review.create_campaign(session, sae_id=sae.id, spec=_spec(overlap_size=11), created_by=None)
    with pytest.raises(review.InvalidCampaign, match="no labels"):
        spec = _spec(label_source="llm:none")
        review.create_campaign(session, sae_id=sae.id, spec=spec, created_by=None)


def test_filters_select_as_the_feature_list_does(session: Session, sae: Sae) -> None:
    selection = FilterSelection(min_f1=0.5, max_frequency=0.05, limit=100)
    campaign = review.create_campaign(
        session, sae_id=sae.id, spec=_spec(selection=selection), created_by=None
    )
    assert [i.feature_index for i in _items(session, campaign.id)] == list(range(30, 50))


def test_stratified_sample_allocates_proportionally() -> None:
    n = 1000
    f1 = np.where(np.arange(n) < 750, 0.1, 0.9)
    f1[:100] = np.nan
    labels = Labels(
        index=np.arange(n),
        explanation_id=np.arange(n),
        text=[str(i) for i in range(n)],
        f1=f1,
        frequency=np.tile(np.linspace(0.001, 0.1, 10), 100),
    )
    selection = StratifiedSelection(size=100, f1_edges=[0, 0.5, 1], frequency_bins=10)
    picked = stratified_sample(labels, selection, np.random.default_rng(0))
    assert picked.size == 100 and np.unique(picked).size == 100
    strata = {(str(f), q): 0 for f in (np.nan, 0.1, 0.9) for q in np.unique(labels.frequency)}
    for i in picked:
        strata[str(f1[i]), labels.frequency[i]] += 1
    quota = {"nan": 1, "0.1": 6.5, "0.9": 2.5}  # stratum size / 10
    assert all(n in (np.floor(quota[f]), np.ceil(quota[f])) for (f, _), n in strata.items())
    assert np.isnan(f1[picked]).sum() == 10
    again = stratified_sample(labels, selection, np.random.default_rng(0))
    assert (again == picked).all()


def test_stratified_campaign_is_seeded(session: Session, sae: Sae) -> None:
    spec = _spec(selection=StratifiedSelection(size=12))
    first = review.create_campaign(session, sae_id=sae.id, spec=spec, created_by=None)
    second = review.create_campaign(session, sae_id=sae.id, spec=spec, created_by=None)
    a = [i.feature_index for i in _items(session, first.id)]
    b = [i.feature_index for i in _items(session, second.id)]
    assert len(a) == 12 and a == b


def test_each_reviewer_has_a_reproducible_order_without_repeats(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    spec = _spec(selection=ExplicitSelection(indices=list(range(30))), reviewers_per_feature=3)
    campaign = review.create_campaign(session, sae_id=sae.id, spec=spec, created_by=None)
    first = review.next_item(session, campaign_id=campaign.id, reviewer_id=users[1])
    assert first is not None
    assert review.next_item(session, campaign_id=campaign.id, reviewer_id=users[1]) == first
    order_1 = _drain(session, campaign.id, users[1])
    order_2 = _drain(session, campaign.id, users[2])
    assert sorted(order_1) == sorted(order_2) == list(range(30))
    assert order_1 != order_2
    assert order_1[0] == first.feature_index


def test_reviewers_per_feature_caps_non_overlap_items(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    spec = _spec(reviewers_per_feature=1, overlap_size=3)
    campaign = review.create_campaign(session, sae_id=sae.id, spec=spec, created_by=None)
    seen_1 = _drain(session, campaign.id, users[1])
    seen_2 = _drain(session, campaign.id, users[2])
    assert len(seen_1) == 10 and len(seen_2) == 3
    overlap = {i.feature_index for i in _items(session, campaign.id) if i.is_overlap}
    assert set(seen_2) == overlap
    counts = {i.feature_index: i.n_ratings for i in _items(session, campaign.id)}
    assert all(counts[f] == (2 if f in overlap else 1) for f in counts)


def test_rating_again_changes_the_answer_and_skip_withdraws_it(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    campaign = review.create_campaign(session, sae_id=sae.id, spec=_spec(), created_by=None)
    item = review.next_item(session, campaign_id=campaign.id, reviewer_id=users[4])
    assert item is not None and item.remaining == 10 and item.answer is None
    ids = {"campaign_id": campaign.id, "item_id": item.item_id, "reviewer_id": users[4]}
    review.rate(session, **ids, answer=Answer(rating=2, meaningful="no", category="device"))
    changed = review.rate(
        session, **ids, answer=Answer(rating=5, corrected_label="Chest tube", comment="ok")
    )
    assert (changed.rating, changed.meaningful, changed.category) == (5, None, None)
    assert changed.corrected_label == "Chest tube" and not changed.skipped
    again = review.get_item(session, **ids)
    assert again.answer is not None and again.answer.rating == 5 and again.remaining == 9
    assert [
        a.item_id for a in review.answers(session, campaign_id=campaign.id, reviewer_id=users[4])
    ] == [item.item_id]
    rows = session.scalars(select(Rating).where(Rating.item_id == item.item_id)).all()
    assert len(rows) == 1
    skipped = review.skip(session, **ids)
    assert skipped.skipped and skipped.rating is None
    assert (
        _items(session, campaign.id)[0].n_ratings + _items(session, campaign.id)[1].n_ratings == 0
    )
    following = review.next_item(session, campaign_id=campaign.id, reviewer_id=users[4])
    assert following is not None and following.item_id != item.item_id
    assert following.remaining == 9


def test_blinded_items_hide_source_and_score(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    blinded = review.create_campaign(session, sae_id=sae.id, spec=_spec(), created_by=None)
    item = review.next_item(session, campaign_id=blinded.id, reviewer_id=users[1])
    assert item is not None and item.label_source is None and item.label_f1 is None
    assert "csv:test" not in item.model_dump_json()
    assert "is_decoy" not in item.model_dump()
    open_ = review.create_campaign(
        session, sae_id=sae.id, spec=_spec(blinded=False), created_by=None
    )
    shown = review.next_item(session, campaign_id=open_.id, reviewer_id=users[1])
    assert shown is not None and shown.label_source == "csv:test"
    assert shown.label_f1 == pytest.approx(shown.feature_index / N_FEATURES)
    assert shown.label == _label(shown.feature_index) and shown.sae == sae.slug


def test_closed_campaigns_and_foreign_items_are_refused(
    session: Session, sae: Sae, users: dict[int, int]
) -> None:
    one = review.create_campaign(session, sae_id=sae.id, spec=_spec(), created_by=None)
    other = review.create_campaign(session, sae_id=sae.id, spec=_spec(), created_by=None)
    foreign = _items(session, other.id)[0].id
    with pytest.raises(review.ItemNotFound):
        review.rate(
            session,
            campaign_id=one.id,
            item_id=foreign,
            reviewer_id=users[1],
            answer=Answer(rating=3),
        )
    with pytest.raises(review.ItemNotFound):
        review.get_item(session, campaign_id=one.id, item_id=foreign, reviewer_id=users[1])
    with pytest.raises(review.CampaignNotFound):
        review.next_item(session, campaign_id=10**9, reviewer_id=users[1])
    assert review.set_status(session, one.id, "closed").status == "closed"
    with pytest.raises(review.CampaignClosed, match="is closed: it takes no more ratings"):
        review.next_item(session, campaign_id=one.id, reviewer_id=users[1])
    with pytest.raises(review.CampaignClosed):
        item_id = _items(session, one.id)[0].id
        review.rate(session, campaign_id=one.id, item_id=item_id, reviewer_id=users[1],
                    answer=Answer(rating=3))  # fmt: skip
    assert [c.id for c in review.list_campaigns(session, sae_id=sae.id)] == [other.id, one.id]


def test_a_campaign_without_ratings_has_empty_results(session: Session, sae: Sae) -> None:
    campaign = review.create_campaign(session, sae_id=sae.id, spec=_spec(), created_by=None)
    stats = review.campaign_stats(session, campaign.id, n_boot=50)
    assert stats.n_ratings == 0 and stats.krippendorff_alpha.estimate is None
    progress = review.campaign_progress(session, campaign.id)
    assert (progress.ratings, progress.items_remaining, progress.reviewers) == (0, 10, [])
    assert review.export_rows(session, campaign.id) == []
    with pytest.raises(review.CampaignNotFound):
        review.campaign_stats(session, 10**9)


def test_progress_stats_and_export(session: Session, sae: Sae, users: dict[int, int]) -> None:
    selection = ExplicitSelection(indices=list(range(12)))
    spec = _spec(selection=selection, overlap_size=12, decoy_share=0.2)
    campaign = review.create_campaign(session, sae_id=sae.id, spec=spec, created_by=None)
    items = _items(session, campaign.id)
    for reviewer, shift in ((users[30], 0), (users[20], 0), (users[10], 1)):
        for item in items:
            rating = 1 + item.feature_index % 4 + shift
            if item.is_decoy:
                rating = 5 if reviewer == users[30] else 1
            review.rate(
                session, campaign_id=campaign.id, item_id=item.id, reviewer_id=reviewer,
                answer=Answer(rating=min(rating, 5), meaningful="yes", comment="=cmd()"),
            )  # fmt: skip
    progress = review.campaign_progress(session, campaign.id)
    assert (progress.n_items, progress.ratings, progress.items_remaining) == (15, 45, 0)
    assert [(r.reviewer, r.rated, r.remaining) for r in progress.reviewers] == [
        ("R1", 15, 0), ("R2", 15, 0), ("R3", 15, 0)
    ]  # fmt: skip

    stats = review.campaign_stats(session, campaign.id, n_boot=200)
    assert stats.n_ratings == 45
    assert stats.krippendorff_alpha.n == 12
    assert stats.krippendorff_alpha.estimate is not None
    assert 0 < stats.krippendorff_alpha.estimate < 1
    kappas = {(p.reviewer_a, p.reviewer_b): p.kappa.estimate for p in stats.pairwise_kappa}
    assert kappas[("R2", "R3")] == pytest.approx(1.0)
    assert stats.fleiss_kappa.estimate is None  # everyone said yes: no chance correction
    assert [(d.reviewer, d.share) for d in stats.decoy_acceptance] == [
        ("R1", 0.0), ("R2", 0.0), ("R3", 1.0)
    ]  # fmt: skip
    assert stats.rating_vs_f1.n == 12
    points = {p.feature_index: p for p in stats.rating_vs_f1_points}
    assert sorted(points) == list(range(12))
    assert all(p.n_ratings == 3 for p in points.values())
    assert points[5].mean_rating == pytest.approx((2 + 2 + 3) / 3)
    assert points[5].f1 == pytest.approx(5 / N_FEATURES)
    assert stats.disputed and stats.disputed[0].spread >= 1
    assert stats.disputed[0].label == _label(stats.disputed[0].feature_index)

    rows = review.export_rows(session, campaign.id)
    assert len(rows) == 45 and {r.reviewer for r in rows} == {"R1", "R2", "R3"}
    assert sum(r.is_decoy for r in rows) == 9
    named = review.export_rows(session, campaign.id, identify=True)
    assert {r.reviewer for r in named} == {str(users[n]) for n in (10, 20, 30)}
    parsed = list(csv.DictReader(io.StringIO(review.export_csv(rows))))
    assert len(parsed) == 45 and parsed[0]["comment"] == "'=cmd()"
    assert parsed[0]["reviewer"] in {"R1", "R2", "R3"}


def test_the_database_checks_ratings(session: Session, sae: Sae, users: dict[int, int]) -> None:
    campaign = review.create_campaign(session, sae_id=sae.id, spec=_spec(), created_by=None)
    item = _items(session, campaign.id)[0]
    for bad in ({"rating": 6}, {"rating": 3, "category": "mood"}, {"rating": None}):
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(
                Rating(campaign_id=campaign.id, item_id=item.id, reviewer_id=users[1], **bad)
            )
            session.flush()
    session.add(Rating(campaign_id=campaign.id, item_id=item.id, reviewer_id=users[1], rating=3))
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            Rating(campaign_id=campaign.id, item_id=item.id, reviewer_id=users[1], rating=4)
        )
        session.flush()
