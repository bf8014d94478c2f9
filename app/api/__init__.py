"""The JSON API under /api/v1: one router per resource, listed here.

The application includes each of them itself (`app.main`), not one router holding them all:
FastAPI walks included routers level by level on every request, and one level less is a tenth
of its routing time."""

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

ROUTERS: tuple[APIRouter, ...] = (
    saes.router,
    features.router,
    search.router,
    jobs.router,
    # Other areas add their API routers below.
    uploads.router,
    encode.router,
    steer.router,
    steering_studies.router,
    study_sets.router,
    autointerp.router,
    campaigns.router,
)
