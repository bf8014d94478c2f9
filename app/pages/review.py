"""Label review pages: campaigns (list, create, progress, agreement, adjudication, closing and
reopening) and the reviewer's queue, one item at a time with its examples and a keyboard-first
rating form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.api.campaigns import MAX_CAMPAIGN_ID, CampaignId, review_errors
from app.deps import AdminUser, SessionDep, SettingsDep, require_role
from app.errors import describe_error
from app.pages.features import example_words, highlight_scale
from app.pages.live import saes_for_form
from app.pages.review_chart import rating_vs_f1_chart
from app.schemas.review import (
    AdjudicationSpec,
    Answer,
    CampaignSpec,
    Category,
    ReviewItem,
)
from app.services import review
from app.services.accounts import UserOut
from app.services.features import get_feature
from app.services.saes import find_sae
from app.services.uploads import read_form
from app.templating import path_for, render, render_block

router = APIRouter()
Reviewer = Annotated[UserOut, Depends(require_role("reviewer"))]

CATEGORIES: list[tuple[str, str]] = [
    (name, name.replace("_", " ").capitalize()) for name in Category.__args__
]
TOP_SHOWN = 10
INTERVAL_SHOWN = 3
STATS_REPLICATES = 200


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _spec_from_form(form: FormData) -> dict[str, Any]:
    """The campaign spec as the create form posts it (validated by CampaignSpec)."""
    kind = _text(form, "selection_kind") or "explicit"
    selection: dict[str, Any] = {"kind": kind}
    if kind == "explicit":
        selection["indices"] = [
            part for part in (_text(form, "indices") or "").replace(",", " ").split() if part
        ]
    elif kind == "stratified":
        selection["size"] = _text(form, "size")
    else:
        selection |= {"q": _text(form, "q"), "review": _text(form, "review")}
        if _text(form, "limit"):
            selection["limit"] = _text(form, "limit")
    spec: dict[str, Any] = {
        "name": _text(form, "name") or "",
        "selection": selection,
        "label_source": _text(form, "label_source"),
        "blinded": form.get("blinded") == "on",
    }
    for field in ("reviewers_per_feature", "overlap_size", "decoy_share", "seed"):
        if _text(form, field) is not None:
            spec[field] = _text(form, field)
    return spec


def _campaigns_page(
    request: Request,
    session: Session,
    user: UserOut | None,
    values: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "campaigns": review.list_campaigns(session),
        "is_admin": user is not None and user.role == "admin",
        "saes": saes_for_form(session),
        "values": values or {"blinded": "on", "reviewers_per_feature": "2"},
        "errors": errors or [],
    }
    json_url = path_for(request, "api_campaigns")
    return render(
        request, "review/campaigns.html", context, json_url=json_url, status_code=status_code
    )


@router.get("/campaigns", name="campaigns_page")
def campaigns_page(request: Request, session: SessionDep, user: Reviewer) -> HTMLResponse:
    """Every campaign; admins also get the form to create one."""
    return _campaigns_page(request, session, user)


@router.post("/campaigns", name="campaign_create")
async def campaign_create(
    request: Request, session: SessionDep, settings: SettingsDep, admin: AdminUser
) -> Response:
    """Create a campaign from the form and go to its page (the form again, with errors)."""
    form = await read_form(request, settings)
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    sae = await run_in_threadpool(find_sae, session, slug=_text(form, "sae") or "")
    try:
        if sae is None:
            raise HTTPException(422, "Choose an SAE.")
        spec = CampaignSpec.model_validate(_spec_from_form(form))
        with review_errors(session):
            created = await run_in_threadpool(
                lambda: review.create_campaign(
                    session, sae_id=sae.id, spec=spec, created_by=admin.id
                )
            )
    except ValidationError as error:
        errors = [describe_error(e) for e in error.errors(include_url=False)]
        return _campaigns_page(request, session, admin, values, errors, 422)
    except HTTPException as error:
        return _campaigns_page(request, session, admin, values, [str(error.detail)], 422)
    return RedirectResponse(path_for(request, "campaign_page", campaign_id=created.id), 303)


@router.get("/campaigns/{campaign_id}", name="campaign_page")
def campaign_page(
    request: Request, campaign_id: CampaignId, session: SessionDep, user: Reviewer
) -> HTMLResponse:
    """A campaign: its spec, progress overall and per reviewer; for admins agreement so far,
    the disputed features with a verdict form each, and export links."""
    is_admin = user.role == "admin"
    with review_errors(session):
        campaign = review.get_campaign(session, campaign_id)
        progress = review.campaign_progress(session, campaign_id)
        stats = (
            review.campaign_stats(session, campaign_id, n_boot=STATS_REPLICATES)
            if is_admin
            else None
        )
    context = {
        "campaign": campaign,
        "progress": progress,
        "stats": stats,
        "rating_chart": None if stats is None else rating_vs_f1_chart(stats),
        "is_admin": is_admin,
    }
    json_url = path_for(request, "api_campaign", campaign_id=campaign_id)
    return render(request, "review/campaign.html", context, json_url=json_url)


@router.post("/campaigns/{campaign_id}/status", name="campaign_status")
async def campaign_status(
    request: Request,
    campaign_id: CampaignId,
    session: SessionDep,
    settings: SettingsDep,
    admin: AdminUser,
) -> Response:
    """Close or reopen the campaign (form field `status`: closed or open), then back to its
    page."""
    form = await read_form(request, settings)
    status = _text(form, "status") or ""
    with review_errors(session):
        await run_in_threadpool(lambda: review.set_status(session, campaign_id, status))
    return RedirectResponse(path_for(request, "campaign_page", campaign_id=campaign_id), 303)


@router.post("/campaigns/{campaign_id}/adjudications", name="campaign_adjudicate")
async def campaign_adjudicate(
    request: Request,
    campaign_id: CampaignId,
    session: SessionDep,
    settings: SettingsDep,
    admin: AdminUser,
) -> Response:
    """Record an admin's verdict on a disputed feature, then back to the campaign page."""
    form = await read_form(request, settings)
    try:
        feature_index = int(_text(form, "feature_index") or "")
        spec = AdjudicationSpec(
            verdict=_text(form, "verdict") or "",  # type: ignore[arg-type]
            corrected_label=_text(form, "corrected_label"),
            note=_text(form, "note"),
        )
    except (ValueError, ValidationError) as error:
        raise HTTPException(422, f"Not a valid verdict: {error}") from None
    if not 0 <= feature_index < 2**31:
        raise HTTPException(422, "Not a feature index.")
    with review_errors(session):
        await run_in_threadpool(
            lambda: review.adjudicate(
                session,
                campaign_id=campaign_id,
                feature_index=feature_index,
                adjudicator_id=admin.id,
                spec=spec,
            )
        )
    target = path_for(request, "campaign_page", campaign_id=campaign_id)
    return RedirectResponse(f"{target}#disputed", 303)


def _examples(session: Session, item: ReviewItem) -> dict[str, Any]:
    """The item's feature's top examples and interval samples, highlighted (nothing else of
    the feature: its labels and scores would unblind the review)."""
    sae = find_sae(session, slug=item.sae)
    feature = None if sae is None else get_feature(session, sae=sae, index=item.feature_index)
    if feature is None:
        return {"top_examples": [], "intervals": []}
    scale = highlight_scale(feature)
    return {
        "top_examples": [(e, example_words(e, scale)) for e in feature.top_examples[:TOP_SHOWN]],
        "intervals": [
            (interval, [(e, example_words(e, scale)) for e in interval.examples[:INTERVAL_SHOWN]])
            for interval in feature.intervals
        ],
    }


def _previous(
    session: Session, campaign_id: int, reviewer_id: int, item_id: int | None
) -> int | None:
    """The item answered before `item_id` (or the last answered one), to go back to."""
    earlier = review.answers(session, campaign_id=campaign_id, reviewer_id=reviewer_id)
    ids = [answer.item_id for answer in earlier]
    if item_id in ids:
        ids = ids[ids.index(item_id) + 1 :]
    return ids[0] if ids else None


def _review_page(
    request: Request,
    session: Session,
    user: UserOut,
    campaign_id: int,
    item_id: int | None,
    errors: list[str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
    *,
    block: str | None = None,
) -> HTMLResponse:
    """The review page at one item (the next unanswered one when `item_id` is None), or only
    its named `block`."""
    with review_errors(session):
        campaign = review.get_campaign(session, campaign_id)
        closed = campaign.status != "open"
        if closed:
            item = None
        elif item_id is None:
            item = review.next_item(session, campaign_id=campaign_id, reviewer_id=user.id)
        else:
            item = review.get_item(
                session, campaign_id=campaign_id, item_id=item_id, reviewer_id=user.id
            )
        done = review.count_answers(session, campaign_id=campaign_id, reviewer_id=user.id)
        previous = (
            None
            if closed
            else _previous(session, campaign_id, user.id, None if item is None else item.item_id)
        )
    answer = item.answer.model_dump() if item is not None and item.answer is not None else {}
    context = {
        "campaign": campaign,
        "closed": closed,
        "item": item,
        "answered": done,
        "previous": previous,
        "values": values or answer,
        "errors": errors or [],
        "categories": CATEGORIES,
        **(_examples(session, item) if item is not None else {}),
    }
    if block is not None:
        return render_block(request, "review/item.html", block, context, status_code=status_code)
    json_url = (
        path_for(request, "api_campaign_next", campaign_id=campaign_id)
        if item_id is None
        else path_for(request, "api_campaign_item", campaign_id=campaign_id, item_id=item_id)
    )
    return render(request, "review/item.html", context, json_url=json_url, status_code=status_code)


@router.get("/review", name="review_page")
def review_page(
    request: Request,
    session: SessionDep,
    user: Reviewer,
    campaign: Annotated[int | None, Query(ge=1, le=MAX_CAMPAIGN_ID)] = None,
    item: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> HTMLResponse:
    """The signed-in reviewer's queue: open campaigns to pick from, then one item at a time
    (`item` goes back to one already answered)."""
    if campaign is None:
        open_campaigns = [c for c in review.list_campaigns(session) if c.status == "open"]
        json_url = path_for(request, "api_campaigns")
        return render(
            request, "review/queue.html", {"campaigns": open_campaigns}, json_url=json_url
        )
    return _review_page(request, session, user, campaign, item)


def _posted_item(form: FormData) -> tuple[int, int]:
    """The campaign and item a rating form names; 422 when it names none."""
    try:
        campaign_id = int(_text(form, "campaign") or "")
        item_id = int(_text(form, "item") or "")
    except ValueError:
        raise HTTPException(422, "The form names no campaign item.") from None
    if not (0 < campaign_id <= MAX_CAMPAIGN_ID and 0 < item_id < 2**63):
        raise HTTPException(422, "The form names no campaign item.")
    return campaign_id, item_id


def _save(
    session: Session, user: UserOut, form: FormData, campaign_id: int, item_id: int
) -> tuple[list[str], dict[str, Any]] | None:
    """Store the posted rating (or skip); the errors and the values posted when the answer is
    not valid, None once it is stored."""
    if form.get("action") == "skip":
        with review_errors(session):
            review.skip(session, campaign_id=campaign_id, item_id=item_id, reviewer_id=user.id)
        return None
    values = {
        name: _text(form, name)
        for name in ("rating", "meaningful", "category", "corrected_label", "comment")
    }
    try:
        answer = Answer.model_validate(values)
    except ValidationError as error:
        return [describe_error(e) for e in error.errors(include_url=False)], values
    with review_errors(session):
        review.rate(
            session, campaign_id=campaign_id, item_id=item_id, reviewer_id=user.id, answer=answer
        )
    return None


@router.post("/review", name="review_rate")
async def review_rate(
    request: Request, session: SessionDep, settings: SettingsDep, user: Reviewer
) -> Response:
    """Store the rating (or the skip) and show the next item; the page says so (409) when the
    campaign has closed meanwhile."""
    form = await read_form(request, settings)
    campaign_id, item_id = _posted_item(form)
    try:
        invalid = await run_in_threadpool(_save, session, user, form, campaign_id, item_id)
    except HTTPException as error:
        if error.status_code != 409:  # review_errors' answer to CampaignClosed
            raise
        return _review_page(request, session, user, campaign_id, None, status_code=409)
    if invalid is not None:
        errors, values = invalid
        return _review_page(request, session, user, campaign_id, item_id, errors, values, 422)
    target = path_for(request, "review_page", {"campaign": campaign_id})
    return RedirectResponse(target, 303)


@router.post("/review/next", name="review_rate_fragment")
async def review_rate_fragment(
    request: Request, session: SessionDep, settings: SettingsDep, user: Reviewer
) -> HTMLResponse:
    """The same as posting to /review, answered in one round trip: the next item's block of
    the review page (review.js swaps it in), or the form with its errors (422)."""
    form = await read_form(request, settings)
    campaign_id, item_id = _posted_item(form)

    def save_and_show() -> HTMLResponse:
        invalid = _save(session, user, form, campaign_id, item_id)
        if invalid is not None:
            errors, values = invalid
            return _review_page(
                request, session, user, campaign_id, item_id, errors, values, 422, block="review"
            )
        return _review_page(request, session, user, campaign_id, None, block="review")

    return await run_in_threadpool(save_and_show)
