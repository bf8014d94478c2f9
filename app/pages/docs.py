"""The API documentation page: Swagger UI served from /static, so it works without internet."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from app.templating import render

router = APIRouter()


@router.get("/docs", name="api_docs")
async def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI over our OpenAPI document (assets and start-up script from /static)."""
    context = {"openapi_url": request.app.openapi_url}
    return render(request, "docs.html", context)
