"""Shared by the encode and steer endpoints: the 202/200 answer and error translation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from app.errors import RATE_LIMITED
from app.schemas.live import JobAccepted
from app.services.live import Submitted
from app.services.uploads import RequestRejected
from workers.kinds.registry import get_kind

LIVE_ERRORS: dict[int | str, dict[str, object]] = {
    200: {"model": JobAccepted, "description": "An identical earlier request's job, reused."},
    413: {"description": "An image (or the whole request) is too large."},
    415: {"description": "A file is not a PNG, JPEG or DICOM image."},
    422: {"description": "A corrupt image, an unknown SAE or feature, or an invalid field."},
    **RATE_LIMITED,
}


def job_accepted(request: Request, response: Response, submitted: Submitted) -> JobAccepted:
    """202 for a new job, 200 for a reused one; links to the job's page and API record."""
    job = submitted.job
    response.status_code = 200 if submitted.cached else 202
    kind = get_kind(job.kind)
    route = kind.result_page if kind is not None and kind.result_page else "job_page"
    page = request.app.url_path_for(route, job_id=str(job.id))
    api = request.app.url_path_for("api_job", job_id=str(job.id))
    response.headers["Location"] = str(api)
    return JobAccepted(
        id=job.id,
        kind=job.kind,
        status=job.status,
        cached=submitted.cached,
        url=str(page),
        api_url=str(api),
    )


@asynccontextmanager
async def as_http_errors() -> AsyncIterator[None]:
    """Turn rejected requests into HTTP errors and pydantic errors into the usual 422."""
    try:
        yield
    except RequestRejected as error:
        raise HTTPException(error.status_code, error.message, headers=error.headers) from None
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None
