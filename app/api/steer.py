"""JSON API: submit a steer job (JSON with upload ids, or multipart with images)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api.accepted import LIVE_ERRORS, as_http_errors, job_accepted
from app.deps import SessionDep, SettingsDep, rate_limited
from app.schemas.live import JobAccepted, SteerRequest, request_body_docs
from app.services.live import submit_steer
from app.services.live_forms import live_request

router = APIRouter(tags=["live"])


@router.post(
    "/steer",
    name="api_steer",
    status_code=202,
    dependencies=[rate_limited("steer")],
    responses=LIVE_ERRORS,
    openapi_extra=request_body_docs(SteerRequest, json=True),
)
async def post_steer(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> JobAccepted:
    """Queue a steer job: the study's report is generated without and with the features'
    decoder directions added at layer 15 (one batched generate), then compared word by word
    and by CheXpert finding, split into on-target (`targets`, default: the observations the
    features' labels name) and off-target changes.

    Alpha is in raw residual-stream units: `delta = alpha * steering_scale * unit(W_dec[i])`
    at every position (`steering_scale` is a deployment setting, default 1; the paper used
    ±10), or with `alpha_unit: "norm"` a fraction of the layer's mean token norm (measured by
    precompute). A list of alphas is a sweep: one steered report per value from the same
    batched generate. A step pushing beyond 2 × the mean token norm is refused (422). Greedy
    decoding by default, so alpha 0 reproduces the baseline. Identical requests return the
    existing job (200); a new feature set on a study whose unsteered report is already known
    reuses that report and generates only the steered ones.
    """
    async with as_http_errors():
        steer_request = await live_request(request, session, settings, SteerRequest)
        submitted = await run_in_threadpool(submit_steer, session, settings, steer_request)
    return job_accepted(request, response, submitted)
