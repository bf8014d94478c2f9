"""JSON API for features: the filtered list, one feature's full record, a report through it.

Hot routes are async and hand the database work to the thread pool in one piece; the hottest,
one feature's record, reads on the event loop (`app.deps.run_read`). Records the services build
from their own rows are serialised directly instead of being validated again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app.deps import (
    FeatureIndex,
    FeatureIndexDep,
    SaeDep,
    SaeSlug,
    SessionDep,
    run_read,
)
from app.paths import ReportPath
from app.schemas.features import FeatureDetail, FeatureListPage, FeatureQuery, FeatureReport
from app.services.feature_list import InvalidCursor, list_features
from app.services.features import FeatureNotFound, feature_by_slug, feature_json
from app.services.reports import feature_report, unknown_report

router = APIRouter(prefix="/saes/{sae}/features", tags=["features"])

ERRORS = {404: {"description": "Unknown SAE or feature"}}


@router.get("", name="api_features", responses=ERRORS)
async def get_features(
    sae: SaeDep, session: SessionDep, query: Annotated[FeatureQuery, Query()]
) -> FeatureListPage:
    """Features filtered by label text, F1 and frequency ranges; keyset pages via `cursor`.

    Frequencies are fractions of tokens (0.01 = 1%). `count` is exact without filters and for up
    to about 500 matches; above that it is the planner's estimate (`count_exact` says which).
    """
    try:
        return await run_in_threadpool(list_features, session, sae=sae, query=query)
    except InvalidCursor as error:
        raise HTTPException(status_code=422, detail=str(error)) from None


@router.get("/{index}", name="api_feature", response_model=FeatureDetail, responses=ERRORS)
async def get_feature_detail(
    sae: SaeSlug, index: FeatureIndex, request: Request, session: SessionDep
) -> Response:
    """Statistics, histogram, explanations with scores, examples and neighbours of a feature."""
    # The hottest read: its three queries run on the event loop, and the record, built from our
    # own rows, is not validated again on the way out.
    try:
        stored = await run_read(request, session, feature_by_slug(sae, index))
    except FeatureNotFound as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    return Response(feature_json(stored), media_type="application/json")


@router.get(
    "/{index}/reports/{document:path}",
    name="api_feature_report",
    response_model=FeatureReport,
    responses={404: {"description": "Unknown SAE, feature or report"}},
)
async def get_feature_report(
    sae: SaeDep, index: FeatureIndexDep, document: ReportPath, session: SessionDep
) -> Response:
    """A whole report with the feature's value on every token where it is stored."""
    report = await run_in_threadpool(
        feature_report, session, sae=sae, index=index, document=document
    )
    if report is None:
        raise HTTPException(status_code=404, detail=unknown_report(sae, index, document))
    return Response(report.model_dump_json(), media_type="application/json")
