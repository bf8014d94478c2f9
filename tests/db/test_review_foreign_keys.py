"""Review rows name real users (revision 0015): orphans are refused, ratings keep their reviewer,
a campaign outlives its creator, and the upgrade keeps rows that named missing users."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.schemas.review import AdjudicationSpec, Answer, CampaignSpec, ExplicitSelection
from app.services import review
from app.services.accounts import add_user, authenticate
from db.engine import make_engine
from db.migrate import upgrade
from db.models import Adjudication, Campaign, CampaignItem, Rating, User
from tests.support.databases import temporary_database
from tests.support.review import answer_all, labelled_sae, make_reviewers

MISSING = 10**9
PASSWORD = "correct horse battery"


def _campaign(session: Session, created_by: int | None) -> int:
    sae = labelled_sae(session)
    spec = CampaignSpec(
        name="Keys", selection=ExplicitSelection(indices=[1, 2]), reviewers_per_feature=2
    )
    return review.create_campaign(session, sae_id=sae.id, spec=spec, created_by=created_by).id


def test_rows_naming_no_user_are_refused(session: Session) -> None:
    users = make_reviewers(session, 1)
    campaign_id = _campaign(session, None)
    item_id = session.scalars(select(CampaignItem.id).filter_by(campaign_id=campaign_id)).first()
    orphans = [
        Rating(campaign_id=campaign_id, item_id=item_id, reviewer_id=MISSING, rating=3),
        Adjudication(
            campaign_id=campaign_id, feature_index=1, verdict="wrong", adjudicator_id=MISSING
        ),
    ]
    for orphan in orphans:
        with pytest.raises(IntegrityError, match="users"), session.begin_nested():
            session.add(orphan)
            session.flush()
    with pytest.raises(IntegrityError, match="users"), session.begin_nested():
        session.execute(text("UPDATE campaigns SET created_by = :u"), {"u": MISSING})
    answer_all(session, campaign_id, users[1], {})
    assert session.scalar(select(Rating.reviewer_id).filter_by(item_id=item_id)) == users[1]


def test_a_rater_cannot_be_deleted_but_a_creator_can(session: Session) -> None:
    users = make_reviewers(session, 1, 2)
    campaign_id = _campaign(session, users[2])
    answer_all(session, campaign_id, users[1], {1: Answer(rating=5)})
    with (
        pytest.raises(IntegrityError, match="fk_ratings_reviewer_id_users"),
        session.begin_nested(),
    ):
        session.execute(delete(User).where(User.id == users[1]))
    session.execute(delete(User).where(User.id == users[2]))
    session.expire_all()
    assert session.get(Campaign, campaign_id).created_by is None


def test_upgrade_keeps_rows_that_named_missing_users(postgres_server: str) -> None:
    with temporary_database(postgres_server, migrate=False) as url:
        upgrade(url, "0014")
        engine = make_engine(url)
        try:
            with Session(engine) as session:  # add_user commits
                rita = add_user(session, name="rita", role="reviewer", password=PASSWORD)
                campaign_id = _campaign(session, MISSING)
                answer_all(session, campaign_id, rita.id, {})
                answer_all(session, campaign_id, MISSING + 1, {})
                review.adjudicate(
                    session, campaign_id=campaign_id, feature_index=1, adjudicator_id=MISSING + 2,
                    spec=AdjudicationSpec(verdict="wrong"),
                )  # fmt: skip
                session.commit()
            upgrade(url)
            with Session(engine) as session:
                assert session.get(Campaign, campaign_id).created_by is None
                raters = session.scalars(select(Rating.reviewer_id).distinct()).all()
                assert sorted(raters) == [rita.id, MISSING + 1]
                placeholders = session.execute(
                    select(User.id, User.name, User.role, User.password_hash).where(
                        User.id != rita.id
                    )
                ).all()
                assert sorted(placeholders) == [
                    (MISSING + 1, f"former-user-{MISSING + 1}", "reviewer", "!"),
                    (MISSING + 2, f"former-user-{MISSING + 2}", "reviewer", "!"),
                ]
                assert (
                    authenticate(session, name=f"former-user-{MISSING + 1}", password="!") is None
                )
                assert add_user(session, name="newcomer", role="reviewer",
                                password=PASSWORD).id > MISSING + 2  # fmt: skip
                assert review.campaign_stats(session, campaign_id, n_boot=10).n_ratings == 4
        finally:
            engine.dispose()
