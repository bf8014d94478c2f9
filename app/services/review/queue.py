"""A reviewer's queue: the next item in their own reproducible order, rating, skipping,
going back.

Each reviewer walks the campaign's item positions in a permutation seeded by (campaign seed,
campaign id, reviewer id), skipping what they already answered and non-overlap items that
already have `reviewers_per_feature` ratings. Two reviewers asking at the same moment can both
get an item's last slot, so an item may end with one rating more than asked; never fewer.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.schemas.review import Answer, ReviewItem, StoredAnswer
from app.services.review.campaigns import CampaignNotFound
from app.services.review.outcomes import refresh_outcomes
from db.labels import PRIMARY_SCORE_KIND, PRIMARY_SCORE_SPLIT


class ItemNotFound(LookupError):
    """No item with this id in this campaign."""


class CampaignClosed(ValueError):
    """The campaign takes no more ratings."""

    def __init__(self, campaign_id: int) -> None:
        super().__init__(f"Campaign {campaign_id} is closed: it takes no more ratings.")


@lru_cache(maxsize=256)
def reviewer_order(seed: int, campaign_id: int, reviewer_id: int, n_items: int) -> np.ndarray:
    """The positions 0..n_items-1 in this reviewer's order (the same on every call)."""
    order = np.random.default_rng([seed, campaign_id, reviewer_id]).permutation(n_items)
    order.flags.writeable = False
    return order


_CAMPAIGN = (
    "SELECT seed, n_items, reviewers_per_feature, status, blinded FROM campaigns WHERE id = :c"
)
_READ = text(_CAMPAIGN)
_SHARE = text(f"{_CAMPAIGN} FOR SHARE")
"""Read before storing an answer: closing the campaign waits for the answer's transaction, and
an answer arriving while it closes waits and then sees it closed."""
_UNAVAILABLE = text(
    """
    SELECT
        ARRAY(SELECT i.position FROM ratings AS r JOIN campaign_items AS i ON i.id = r.item_id
              WHERE r.campaign_id = :c AND r.reviewer_id = :r),
        ARRAY(SELECT position FROM campaign_items
              WHERE campaign_id = :c AND NOT is_overlap AND n_ratings >= :k)
    """
)
_ITEM = f"""
    SELECT i.id, i.feature_index, e.text, e.source_key, s.f1, sae.slug
    FROM campaign_items AS i
    JOIN campaigns AS c ON c.id = i.campaign_id
    JOIN saes AS sae ON sae.id = c.sae_id
    JOIN explanations AS e ON e.id = i.explanation_id
    LEFT JOIN scores AS s ON s.explanation_id = e.id
        AND s.kind = '{PRIMARY_SCORE_KIND}' AND s.split = '{PRIMARY_SCORE_SPLIT}'
    WHERE i.campaign_id = :c AND {{where}}
    """
"""The item's row; `{where}` is one of the fixed conditions below, never user text."""
_ANSWER_COLUMNS = (
    "r.item_id, i.feature_index, r.rating, r.meaningful, r.category, r.corrected_label, "
    "r.comment, r.skipped, r.updated_at"
)


def _campaign(
    session: Session, campaign_id: int, *, lock: bool = False
) -> tuple[int, int, int, str, bool]:
    row = session.execute(_SHARE if lock else _READ, {"c": campaign_id}).first()
    if row is None:
        raise CampaignNotFound(f"There is no campaign {campaign_id}.")
    return tuple(row)


def open_positions(
    session: Session, campaign_id: int, reviewer_id: int, campaign: tuple | None = None
) -> np.ndarray:
    """The positions still open to this reviewer, in their order (`campaign`: the campaign's
    `_campaign` row, when the caller has read it already)."""
    seed, n_items, per_feature, _, _ = campaign or _campaign(session, campaign_id)
    answered, full = session.execute(
        _UNAVAILABLE, {"c": campaign_id, "r": reviewer_id, "k": per_feature}
    ).one()
    available = np.ones(n_items, dtype=bool)
    available[np.asarray(answered, dtype=np.int64)] = False
    available[np.asarray(full, dtype=np.int64)] = False
    order = reviewer_order(seed, campaign_id, reviewer_id, n_items)
    return order[available[order]]


def _review_item(
    session: Session,
    campaign: tuple,
    campaign_id: int,
    reviewer_id: int,
    where: str,
    params: dict,
    remaining: int,
) -> ReviewItem | None:
    blinded = campaign[4]
    row = session.execute(text(_ITEM.format(where=where)), {"c": campaign_id, **params}).first()
    if row is None:
        return None
    item_id, feature_index, label, source_key, f1, slug = row
    answer = session.execute(
        text(
            "SELECT rating, meaningful, category, corrected_label, comment FROM ratings "
            "WHERE item_id = :i AND reviewer_id = :r AND NOT skipped"
        ),
        {"i": item_id, "r": reviewer_id},
    ).first()
    return ReviewItem(
        campaign_id=campaign_id,
        item_id=item_id,
        sae=slug,
        feature_index=feature_index,
        label=label,
        remaining=remaining,
        label_source=None if blinded else source_key,
        label_f1=None if blinded else f1,
        answer=None if answer is None else Answer.model_validate(answer._mapping),
    )


def next_item(session: Session, *, campaign_id: int, reviewer_id: int) -> ReviewItem | None:
    """The reviewer's next unanswered item, or None when nothing is left; CampaignClosed when
    the campaign is closed."""
    campaign = _campaign(session, campaign_id)
    if campaign[3] != "open":
        raise CampaignClosed(campaign_id)
    positions = open_positions(session, campaign_id, reviewer_id, campaign)
    if positions.size == 0:
        return None
    return _review_item(
        session,
        campaign,
        campaign_id,
        reviewer_id,
        "i.position = :p",
        {"p": int(positions[0])},
        int(positions.size),
    )


def get_item(session: Session, *, campaign_id: int, item_id: int, reviewer_id: int) -> ReviewItem:
    """One item as this reviewer sees it, with their earlier answer (for going back)."""
    campaign = _campaign(session, campaign_id)
    remaining = int(open_positions(session, campaign_id, reviewer_id, campaign).size)
    where, params = "i.id = :i", {"i": item_id}
    item = _review_item(session, campaign, campaign_id, reviewer_id, where, params, remaining)
    if item is None:
        raise ItemNotFound(f"Campaign {campaign_id} has no item {item_id}.")
    return item


_UPSERT = text(
    """
    INSERT INTO ratings (campaign_id, item_id, reviewer_id, rating, meaningful, category,
                         corrected_label, comment, skipped)
    SELECT :c, :i, :r, :rating, :meaningful, :category, :corrected_label, :comment, :skipped
    WHERE EXISTS (SELECT 1 FROM campaign_items WHERE id = :i AND campaign_id = :c)
    ON CONFLICT (item_id, reviewer_id) DO UPDATE SET
        rating = excluded.rating, meaningful = excluded.meaningful,
        category = excluded.category, corrected_label = excluded.corrected_label,
        comment = excluded.comment, skipped = excluded.skipped, updated_at = now()
    RETURNING id
    """
)
_RECOUNT = text(
    "UPDATE campaign_items SET n_ratings = "
    "(SELECT count(*) FROM ratings WHERE item_id = :i AND NOT skipped) WHERE id = :i"
)


def _store(
    session: Session, campaign_id: int, item_id: int, reviewer_id: int, values: dict
) -> StoredAnswer:
    _, _, _, status, blinded = _campaign(session, campaign_id, lock=True)
    if status != "open":
        raise CampaignClosed(campaign_id)
    params = {"c": campaign_id, "i": item_id, "r": reviewer_id, **values}
    if session.execute(_UPSERT, params).first() is None:
        raise ItemNotFound(f"Campaign {campaign_id} has no item {item_id}.")
    session.execute(_RECOUNT, {"i": item_id})
    stored = answers(session, campaign_id=campaign_id, reviewer_id=reviewer_id, item_id=item_id)
    if not blinded:
        refresh_outcomes(session, campaign_id, [stored[0].feature_index])
    return stored[0]


def rate(
    session: Session, *, campaign_id: int, item_id: int, reviewer_id: int, answer: Answer
) -> StoredAnswer:
    """Record (or change) the reviewer's answer on an item."""
    return _store(
        session, campaign_id, item_id, reviewer_id, {**answer.model_dump(), "skipped": False}
    )


def skip(session: Session, *, campaign_id: int, item_id: int, reviewer_id: int) -> StoredAnswer:
    """Pass on an item: it does not come back, and an earlier answer on it is withdrawn."""
    values = dict.fromkeys(Answer.model_fields) | {"skipped": True}
    return _store(session, campaign_id, item_id, reviewer_id, values)


def answers(
    session: Session,
    *,
    campaign_id: int,
    reviewer_id: int,
    item_id: int | None = None,
    limit: int = 100,
) -> list[StoredAnswer]:
    """The reviewer's answers in this campaign, most recently changed first (to go back)."""
    where = "r.campaign_id = :c AND r.reviewer_id = :r"
    if item_id is not None:
        where += " AND r.item_id = :i"
    rows = session.execute(
        text(
            f"SELECT {_ANSWER_COLUMNS} FROM ratings AS r "
            f"JOIN campaign_items AS i ON i.id = r.item_id WHERE {where} "
            "ORDER BY r.updated_at DESC, r.id DESC LIMIT :limit"
        ),
        {"c": campaign_id, "r": reviewer_id, "i": item_id, "limit": limit},
    ).mappings()
    return [StoredAnswer.model_validate(dict(row)) for row in rows]


def count_answers(session: Session, *, campaign_id: int, reviewer_id: int) -> int:
    """How many items the reviewer has answered (rated or skipped) in this campaign."""
    return session.scalar(
        text("SELECT count(*) FROM ratings WHERE campaign_id = :c AND reviewer_id = :r"),
        {"c": campaign_id, "r": reviewer_id},
    )
