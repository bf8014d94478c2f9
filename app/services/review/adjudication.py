"""Adjudication: an admin's final verdict on a (disputed) feature of a campaign.

One verdict per feature and campaign; recording again replaces it. Every change brings the
feature's review summary and human labels in step (app.services.review.outcomes).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.schemas.review import Adjudication, AdjudicationSpec
from app.services.review.campaigns import get_campaign
from app.services.review.outcomes import refresh_outcomes
from app.services.review.queue import ItemNotFound

_COLUMNS = (
    "campaign_id, feature_index, verdict, corrected_label, note, adjudicator_id, created_at, "
    "updated_at"
)
_UPSERT = text(
    f"""
    INSERT INTO adjudications (campaign_id, feature_index, verdict, corrected_label, note,
                               adjudicator_id)
    SELECT :c, :feature_index, :verdict, :corrected_label, :note, :adjudicator_id
    WHERE EXISTS (SELECT 1 FROM campaign_items
                  WHERE campaign_id = :c AND feature_index = :feature_index AND NOT is_decoy)
    ON CONFLICT (campaign_id, feature_index) DO UPDATE SET
        verdict = excluded.verdict, corrected_label = excluded.corrected_label,
        note = excluded.note, adjudicator_id = excluded.adjudicator_id, updated_at = now()
    RETURNING {_COLUMNS}
    """
)
_DELETE = text(
    "DELETE FROM adjudications WHERE campaign_id = :c AND feature_index = :feature_index "
    "RETURNING id"
)
_LIST = text(
    f"SELECT {_COLUMNS} FROM adjudications WHERE campaign_id = :c "
    "AND (CAST(:feature_index AS integer) IS NULL OR feature_index = :feature_index) "
    "ORDER BY feature_index"
)


def adjudicate(
    session: Session,
    *,
    campaign_id: int,
    feature_index: int,
    adjudicator_id: int,
    spec: AdjudicationSpec,
) -> Adjudication:
    """Record (or replace) the verdict on a feature the campaign reviews (open or closed)."""
    get_campaign(session, campaign_id)
    params = {
        "c": campaign_id,
        "feature_index": feature_index,
        "adjudicator_id": adjudicator_id,
        **spec.model_dump(),
    }
    row = session.execute(_UPSERT, params).mappings().first()
    if row is None:
        raise ItemNotFound(f"Campaign {campaign_id} does not review feature {feature_index}.")
    refresh_outcomes(session, campaign_id, [feature_index])
    return Adjudication.model_validate(dict(row))


def withdraw_adjudication(session: Session, *, campaign_id: int, feature_index: int) -> None:
    """Remove the verdict on a feature; ItemNotFound when there is none."""
    get_campaign(session, campaign_id)
    if session.execute(_DELETE, {"c": campaign_id, "feature_index": feature_index}).first() is None:
        raise ItemNotFound(f"Campaign {campaign_id} has no verdict on feature {feature_index}.")
    refresh_outcomes(session, campaign_id, [feature_index])


def list_adjudications(
    session: Session, campaign_id: int, *, feature_index: int | None = None
) -> list[Adjudication]:
    """The campaign's verdicts by feature index (or only the one on `feature_index`)."""
    get_campaign(session, campaign_id)
    rows = session.execute(_LIST, {"c": campaign_id, "feature_index": feature_index}).mappings()
    return [Adjudication.model_validate(dict(row)) for row in rows]
