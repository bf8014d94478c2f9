"""The HTML pages (Jinja2 + htmx): one router per resource, assembled here."""

from __future__ import annotations

from fastapi import APIRouter

from app.pages import features, saes, search

router = APIRouter(include_in_schema=False)
router.include_router(saes.router)
router.include_router(features.router)
router.include_router(search.router)
# Other areas add their page routers below (e.g. jobs, encode, steer).
