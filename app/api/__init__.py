"""The JSON API under /api/v1: one router per resource, assembled here."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import features, jobs, saes, search

router = APIRouter()
router.include_router(saes.router)
router.include_router(features.router)
router.include_router(search.router)
router.include_router(jobs.router)
# Other areas add their API routers below (e.g. jobs, encode, steer).
