"""JSON API for features: the filtered list and one feature's full record.

Hot routes are async and hand the database work to the thread pool in one piece, so the response
model is checked on the event loop instead of in another thread hop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from starlette.concurrency import run_in_threadpool

from app.deps import FeatureIndexDep, SaeDep, SessionDep
from app.schemas.features import FeatureDetail, FeatureListPage, FeatureQuery
from app.services.feature_list import InvalidCursor, list_features
from app.services.features import get_feature

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


@router.get("/{index}", name="api_feature", responses=ERRORS)
async def get_feature_detail(
    sae: SaeDep, index: FeatureIndexDep, session: SessionDep
) -> FeatureDetail:
    """Statistics, histogram, explanations with scores, examples and neighbours of a feature."""
    feature = await run_in_threadpool(get_feature, session, sae=sae, index=index)
    if feature is None:
        raise HTTPException(
            status_code=404, detail=f"Feature {index:,} of SAE {sae.slug!r} has no stored data."
        )
    return feature
