"""JSON API: start a steering study, read its progress and results (JSON or CSV)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api.accepted import as_http_errors
from app.deps import SessionDep, SettingsDep, rate_limited
from app.schemas.steering_studies import (
    SteeringStudyAccepted,
    SteeringStudyOut,
    SteeringStudyRequest,
)
from app.services.steering_studies import (
    StudyUrls,
    find_steering_study,
    study_csv,
    submit_steering_study,
)
from app.templating import path_for

router = APIRouter(prefix="/steering-studies", tags=["steering studies"])


def study_urls(request: Request) -> Callable[[uuid.UUID], StudyUrls]:
    """The `urls` callback of `find_steering_study` for this request's app."""

    def urls(study_id: uuid.UUID) -> StudyUrls:
        return StudyUrls(
            url=path_for(request, "steering_study_page", study_id=str(study_id)),
            csv_url=path_for(
                request, "api_steering_study", {"format": "csv"}, study_id=str(study_id)
            ),
            part_url=lambda job_id: path_for(request, "job_page", job_id=str(job_id)),
        )

    return urls


@router.post(
    "",
    name="api_steering_studies",
    status_code=202,
    dependencies=[rate_limited("steering_studies")],
    responses={
        422: {"description": "An unknown SAE, feature or upload, or alpha too large."},
        429: {"description": "Too many studies started; retry after `Retry-After` seconds."},
    },
)
async def post_steering_study(
    body: SteeringStudyRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> SteeringStudyAccepted:
    """Steer each feature alone at each alpha over every study (stored uploads and text; only
    uploads of the requester count), split
    into queue jobs across the running workers (or `parts`), and measure per feature and alpha
    the share of reports with on-target finding changes only, off-target only, both or none.

    The target observations of a feature are those its label names (mapped to the 14 CheXpert
    observations) unless `targets` is given. Alpha units as for `POST /steer`. The study, like
    a job, is seen only by whoever started it (and admins).
    """
    async with as_http_errors():
        study = await run_in_threadpool(submit_steering_study, session, settings, body)
    return SteeringStudyAccepted(
        id=study.id,
        parts=len(study.job_ids),
        url=path_for(request, "steering_study_page", study_id=str(study.id)),
        api_url=path_for(request, "api_steering_study", study_id=str(study.id)),
    )


@router.get(
    "/{study_id}",
    name="api_steering_study",
    response_model=SteeringStudyOut,
    responses={
        404: {"description": "No such steering study (or another person's)."},
        409: {"description": "CSV asked for before every part has succeeded."},
        200: {"content": {"text/csv": {}}},
    },
)
def get_steering_study(
    study_id: str,
    request: Request,
    session: SessionDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> SteeringStudyOut | Response:
    """Progress over the parts and, once all succeeded, per feature and alpha the outcome
    counts and shares with 95% Wilson intervals and the up/down correlations. `?format=csv`
    gives one row per feature and alpha."""
    study = find_steering_study(session, study_id, study_urls(request))
    if study is None:
        raise HTTPException(404, f"There is no steering study {study_id!r}.")
    if format == "csv":
        if study.results is None:
            raise HTTPException(409, f"The steering study is {study.status}; no results yet.")
        return Response(
            study_csv(study),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="steering-study-{study.id}.csv"'
            },
        )
    return study
