"""JSON API: submit an encode job (multipart upload of a study, or upload ids)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api.accepted import LIVE_ERRORS, as_http_errors, job_accepted
from app.deps import SessionDep, SettingsDep, rate_limited
from app.schemas.live import EncodeRequest, JobAccepted, request_body_docs
from app.services.live import submit_encode
from app.services.live_forms import live_request

router = APIRouter(tags=["live"])


@router.post(
    "/encode",
    name="api_encode",
    status_code=202,
    dependencies=[rate_limited("encode")],
    responses=LIVE_ERRORS,
    openapi_extra=request_body_docs(EncodeRequest, json=True),
)
async def post_encode(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> JobAccepted:
    """Queue an encode job: MAIRA-2 writes the findings report for the study, layer 15 is read
    over the report and the prompt's free text, and the SAE encodes every token.

    Send multipart/form-data with image files (`frontal` required, `lateral`, `prior_frontal`
    optional; PNG, JPEG or DICOM; DICOM headers are discarded, only pixels are kept) or JSON
    with upload ids. Answers 202 with the new job, or 200 with the job of an identical earlier
    request. Follow `api_url` for progress and the result.
    """
    async with as_http_errors():
        encode_request = await live_request(request, session, settings, EncodeRequest)
        submitted = await run_in_threadpool(submit_encode, session, settings, encode_request)
    return job_accepted(request, response, submitted)
