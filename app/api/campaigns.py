"""JSON API for label review campaigns: create, list, close and reopen them, serve and rate
items, statistics, export and adjudication."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from sqlalchemy.orm import Session

from app.deps import AdminUser, SessionDep, require_role
from app.paths import RowId
from app.schemas.review import (
    Adjudication,
    AdjudicationList,
    AdjudicationSpec,
    Answer,
    AnswerList,
    CampaignList,
    CampaignProgress,
    CampaignSpec,
    CampaignStats,
    CampaignSummary,
    ExportList,
    NewAdjudication,
    NewCampaign,
    NewRating,
    ReviewItem,
    StoredAnswer,
)
from app.services import review
from app.services.accounts import UserOut
from app.services.saes import find_sae

router = APIRouter(prefix="/campaigns", tags=["review"])
Reviewer = Annotated[UserOut, Depends(require_role("reviewer"))]
MAX_CAMPAIGN_ID = 2**31 - 1
CampaignId = Annotated[
    int,
    Path(ge=1, le=MAX_CAMPAIGN_ID, description="A campaign's id (a positive 32-bit integer)."),
]

ERRORS: dict[int | str, dict[str, object]] = {
    404: {"description": "No such campaign or item."},
    409: {"description": "The campaign is closed."},
    422: {"description": "A spec or answer that cannot be met."},
}


@contextmanager
def review_errors(session: Session) -> Iterator[None]:
    """Commit on success; service errors become 404/409/422 (the request's session is then
    closed uncommitted, see app.request_session)."""
    try:
        yield
        session.commit()
    except (review.CampaignNotFound, review.ItemNotFound) as error:
        raise HTTPException(404, str(error)) from None
    except review.CampaignClosed as error:
        raise HTTPException(409, str(error)) from None
    except review.InvalidCampaign as error:
        raise HTTPException(422, str(error)) from None


@router.get("", name="api_campaigns", responses={404: {"description": "No such SAE."}})
def get_campaigns(
    session: SessionDep, user: Reviewer, sae: Annotated[str | None, Query(max_length=200)] = None
) -> CampaignList:
    """Every campaign (or those over the SAE `sae`); reviewers and admins, as the pages."""
    sae_id = None
    if sae is not None:
        found = find_sae(session, slug=sae)
        if found is None:
            raise HTTPException(404, f"There is no SAE named {sae!r}.")
        sae_id = found.id
    return CampaignList(data=review.list_campaigns(session, sae_id=sae_id))


@router.post("", name="api_create_campaign", status_code=201, responses=ERRORS)
def post_campaign(
    body: NewCampaign, session: SessionDep, admin: AdminUser, response: Response
) -> CampaignSummary:
    """Create a campaign over the SAE `sae` (admins only): which features, whose labels, how
    many reviewers each, the overlap every reviewer rates, blinding and decoys."""
    found = find_sae(session, slug=body.sae)
    if found is None:
        raise HTTPException(422, f"There is no SAE named {body.sae!r}.")
    spec = CampaignSpec.model_validate(body.model_dump(exclude={"sae"}))
    with review_errors(session):
        created = review.create_campaign(session, sae_id=found.id, spec=spec, created_by=admin.id)
    response.headers["Location"] = f"/api/v1/campaigns/{created.id}"
    return created


@router.get("/{campaign_id}", name="api_campaign", responses=ERRORS)
def get_campaign(campaign_id: CampaignId, session: SessionDep, user: Reviewer) -> CampaignSummary:
    """One campaign's spec and size; reviewers and admins, as the pages."""
    with review_errors(session):
        return review.get_campaign(session, campaign_id)


@router.post("/{campaign_id}/close", name="api_campaign_close", responses={404: ERRORS[404]})
def post_close(campaign_id: CampaignId, session: SessionDep, admin: AdminUser) -> CampaignSummary:
    """Close the campaign (admins only): it serves no items and takes no ratings (409), and its
    ratings and verdicts now count outside it, blinded or not: review summaries, human labels."""
    with review_errors(session):
        return review.set_status(session, campaign_id, "closed")


@router.post("/{campaign_id}/reopen", name="api_campaign_reopen", responses={404: ERRORS[404]})
def post_reopen(campaign_id: CampaignId, session: SessionDep, admin: AdminUser) -> CampaignSummary:
    """Reopen a closed campaign (admins only): reviewers rate again, and a blinded campaign's
    ratings stop counting outside it until it closes."""
    with review_errors(session):
        return review.set_status(session, campaign_id, "open")


@router.get("/{campaign_id}/progress", name="api_campaign_progress", responses=ERRORS)
def get_progress(campaign_id: CampaignId, session: SessionDep, user: Reviewer) -> CampaignProgress:
    """Ratings so far, overall and per reviewer (pseudonymised), and what remains."""
    with review_errors(session):
        return review.campaign_progress(session, campaign_id)


@router.get(
    "/{campaign_id}/next",
    name="api_campaign_next",
    response_model=ReviewItem,
    response_model_exclude_none=True,
    responses={**ERRORS, 204: {"description": "Nothing left for this reviewer."}},
)
def get_next(campaign_id: CampaignId, session: SessionDep, user: Reviewer) -> ReviewItem | Response:
    """The signed-in reviewer's next item (409 once the campaign is closed). In blinded
    campaigns it has neither the label's source nor its scores; `answer` is absent until the
    reviewer has answered."""
    with review_errors(session):
        item = review.next_item(session, campaign_id=campaign_id, reviewer_id=user.id)
    if item is None:
        return Response(status_code=204)
    return item


@router.get(
    "/{campaign_id}/items/{item_id}",
    name="api_campaign_item",
    response_model_exclude_none=True,
    responses=ERRORS,
)
def get_item(
    campaign_id: CampaignId, item_id: RowId, session: SessionDep, user: Reviewer
) -> ReviewItem:
    """An item the signed-in reviewer may rate, with their earlier answer (to go back)."""
    with review_errors(session):
        return review.get_item(
            session, campaign_id=campaign_id, item_id=item_id, reviewer_id=user.id
        )


@router.get("/{campaign_id}/ratings", name="api_campaign_my_ratings", responses=ERRORS)
def get_ratings(campaign_id: CampaignId, session: SessionDep, user: Reviewer) -> AnswerList:
    """The signed-in reviewer's own answers, most recently changed first."""
    with review_errors(session):
        review.get_campaign(session, campaign_id)
        return AnswerList(
            data=review.answers(session, campaign_id=campaign_id, reviewer_id=user.id)
        )


@router.post("/{campaign_id}/ratings", name="api_campaign_rate", responses=ERRORS)
def post_rating(
    campaign_id: CampaignId, body: NewRating, session: SessionDep, user: Reviewer
) -> StoredAnswer:
    """Record (or change) the signed-in reviewer's answer on the item `item_id`."""
    answer = Answer.model_validate(body.model_dump(exclude={"item_id"}))
    with review_errors(session):
        return review.rate(
            session,
            campaign_id=campaign_id,
            item_id=body.item_id,
            reviewer_id=user.id,
            answer=answer,
        )


@router.post("/{campaign_id}/skips", name="api_campaign_skip", responses=ERRORS)
def post_skip(
    campaign_id: CampaignId,
    session: SessionDep,
    user: Reviewer,
    item_id: Annotated[int, Query(ge=1, le=2**63 - 1, description="The item passed on.")],
) -> StoredAnswer:
    """Pass on an item: it does not come back, and an earlier answer on it is withdrawn."""
    with review_errors(session):
        return review.skip(session, campaign_id=campaign_id, item_id=item_id, reviewer_id=user.id)


@router.get("/{campaign_id}/stats", name="api_campaign_stats", responses=ERRORS)
def get_stats(
    campaign_id: CampaignId,
    session: SessionDep,
    admin: AdminUser,
    identify: bool = False,
    weights: Literal["linear", "quadratic"] = "quadratic",
) -> CampaignStats:
    """Agreement (Krippendorff's alpha, pairwise weighted kappa, Fleiss' kappa), decoy
    acceptance, rating vs F1 and the most disputed features (admins only)."""
    with review_errors(session):
        return review.campaign_stats(session, campaign_id, weighting=weights, identify=identify)


@router.get(
    "/{campaign_id}/export",
    name="api_campaign_export",
    response_model=ExportList,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
)
def get_export(
    campaign_id: CampaignId,
    session: SessionDep,
    admin: AdminUser,
    format: Literal["csv", "json"] = "json",
    identify: bool = False,
) -> ExportList | Response:
    """Every rating and skip, flat; reviewers pseudonymised unless `identify=true`."""
    with review_errors(session):
        rows = review.export_rows(session, campaign_id, identify=identify)
    if format == "csv":
        return Response(
            review.export_csv(rows),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
        )
    return ExportList(data=rows)


@router.get("/{campaign_id}/adjudications", name="api_campaign_adjudications", responses=ERRORS)
def get_adjudications(
    campaign_id: CampaignId, session: SessionDep, admin: AdminUser
) -> AdjudicationList:
    """The campaign's final verdicts (admins only)."""
    with review_errors(session):
        return AdjudicationList(data=review.list_adjudications(session, campaign_id))


@router.post("/{campaign_id}/adjudications", name="api_campaign_adjudicate", responses=ERRORS)
def post_adjudication(
    campaign_id: CampaignId, body: NewAdjudication, session: SessionDep, admin: AdminUser
) -> Adjudication:
    """Record or replace the verdict on a feature the campaign reviews (admins only)."""
    spec = AdjudicationSpec.model_validate(body.model_dump(exclude={"feature_index"}))
    with review_errors(session):
        return review.adjudicate(
            session,
            campaign_id=campaign_id,
            feature_index=body.feature_index,
            adjudicator_id=admin.id,
            spec=spec,
        )
