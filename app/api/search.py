"""JSON API for search across SAEs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from app.deps import SessionDep
from app.schemas.search import SearchResults
from app.services.search import search

router = APIRouter(prefix="/search", tags=["search"])


@router.get("", name="api_search")
async def get_search(
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Words, or 'sae/123'.")],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SearchResults:
    """Explanations matching `q` (web-search syntax: "quotes", or, -not), best first."""
    return await run_in_threadpool(search, session, q=q, limit=limit)
