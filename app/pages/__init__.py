"""The HTML pages (Jinja2 + htmx): one router per resource, listed here (the application
includes each, as it does the API's: see `app.api`)."""

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

ROUTERS: tuple[APIRouter, ...] = (
    saes.router,
    features.router,
    search.router,
    jobs.router,
    # Other areas add their page routers below.
    encode.router,
    steer.router,
    steering_studies.router,
    uploads.router,
    docs.router,
    autointerp.router,
    accounts.router,
    review.router,
)
