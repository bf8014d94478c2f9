"""Closing a campaign while a rating is being stored, on two connections to a database of its
own: closing waits for the rating and counts it; a rating arriving after it is refused."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from app.schemas.review import Answer
from app.services import review
from db.engine import make_engine
from db.models import Feature
from tests.support.review import campaign, labelled_sae, make_reviewers

WAITING = text(
    "SELECT count(*) FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid "
    "WHERE NOT l.granted AND a.datname = current_database()"
)
"""Sessions of this database waiting for a lock (a row lock is waited for as the holder's
transaction id, whose lock names no database)."""


def _close(engine: Engine, campaign_id: int) -> None:
    with Session(engine) as session:
        review.set_status(session, campaign_id, "closed")
        session.commit()


def test_closing_waits_for_a_rating_in_flight(make_database: Callable[[], str]) -> None:
    engine = make_engine(make_database())
    try:
        with Session(engine) as setup:
            sae = labelled_sae(setup)
            reviewer = make_reviewers(setup, 1)[1]
            campaign_id = campaign(setup, sae, [4], blinded=True, reviewers=1)
            sae_id = sae.id
            setup.commit()
        with ThreadPoolExecutor(1) as pool, Session(engine) as rating, engine.connect() as watch:
            item = review.next_item(rating, campaign_id=campaign_id, reviewer_id=reviewer)
            assert item is not None
            ids = {"campaign_id": campaign_id, "item_id": item.item_id, "reviewer_id": reviewer}
            review.rate(rating, **ids, answer=Answer(rating=5))
            closing = pool.submit(_close, engine, campaign_id)
            deadline = time.monotonic() + 10
            while watch.execute(WAITING).scalar() == 0:
                assert time.monotonic() < deadline, "closing did not wait for the rating"
                time.sleep(0.05)
            assert not closing.done()
            rating.commit()
            closing.result(timeout=60)
        with Session(engine) as after:
            query = select(Feature.review_n).filter_by(sae_id=sae_id, index=4)
            assert after.scalar(query) == 1  # the rating that was in flight counts
            with pytest.raises(review.CampaignClosed):
                review.rate(after, **ids, answer=Answer(rating=1))
    finally:
        engine.dispose()
