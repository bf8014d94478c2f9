"""The HTML pages (Jinja2 + htmx): one router per resource, assembled here."""

from __future__ import annotations

from fastapi import APIRouter

from app.pages import (
    accounts,
    autointerp,
    docs,
    encode,
    features,
    jobs,
    review,
    saes,
    search,
    steer,
    steering_studies,
    uploads,
)

router = APIRouter(include_in_schema=False)
router.include_router(saes.router)
router.include_router(features.router)
router.include_router(search.router)
router.include_router(jobs.router)
# Other areas add their page routers below (e.g. jobs, encode, steer).
router.include_router(encode.router)
router.include_router(steer.router)
router.include_router(steering_studies.router)
router.include_router(uploads.router)
router.include_router(docs.router)
router.include_router(autointerp.router)
router.include_router(accounts.router)
router.include_router(review.router)
