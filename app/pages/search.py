"""HTML page for search across SAEs; an exact reference such as 'sae/123' jumps to the feature."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from app.deps import SessionDep
from app.services.search import search
from app.templating import path_for, render

router = APIRouter()


@router.get("/search", name="search_page")
async def search_page(
    request: Request,
    session: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    q = q.strip()
    results = await run_in_threadpool(search, session, q=q, limit=50) if q else None
    if results is not None and results.jump is not None:
        target = path_for(request, "feature_page", sae=results.jump.sae, index=results.jump.index)
        return RedirectResponse(target, status_code=303)
    json_url = path_for(request, "api_search", {"q": q}) if q else None
    return render(request, "search.html", {"results": results, "search_q": q}, json_url=json_url)
