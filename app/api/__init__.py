"""The JSON API under /api/v1: one router per resource, assembled here."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import (
    autointerp,
    campaigns,
    encode,
    features,
    jobs,
    saes,
    search,
    steer,
    steering_studies,
    study_sets,
    uploads,
)

router = APIRouter()
router.include_router(saes.router)
router.include_router(features.router)
router.include_router(search.router)
router.include_router(jobs.router)
# Other areas add their API routers below (e.g. jobs, encode, steer).
router.include_router(uploads.router)
router.include_router(encode.router)
router.include_router(steer.router)
router.include_router(steering_studies.router)
router.include_router(study_sets.router)
router.include_router(autointerp.router)
router.include_router(campaigns.router)
