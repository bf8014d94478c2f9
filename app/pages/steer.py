"""The steer page: choose features and strengths, then compare the two reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, Response

from app.deps import SessionDep, SettingsDep, rate_limited
from app.pages.live import (
    features_from_job,
    result_page,
    saes_for_form,
    study_from_job,
    submit_form,
)
from app.schemas.live import (
    ALPHA_DESCRIPTION,
    DEFAULT_MAX_NEW_TOKENS,
    MAX_NEW_TOKENS_CAP,
    MAX_STEERED_FEATURES,
    SteerRequest,
)
from app.services.alpha import alpha_guides
from app.services.jobs import current_labels
from app.services.live import submit_steer
from app.templating import render
from workers.findings.phrases import OBSERVATIONS

router = APIRouter()

FORM = "steer/form.html"
DEFAULT_ALPHA = "10"
FEATURE_ROWS = 4


def _render_form(
    request: Request,
    session: Session,
    values: dict[str, object],
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    guides = alpha_guides(session, request.app.state.settings.steering_scale)
    guide = guides.get(str(values.get("sae") or ""))
    suggested = guide and guide["suggested_raw"]
    default_alpha = f"{suggested:g}" if suggested else DEFAULT_ALPHA
    indices = list(values.get("feature_index") or [])
    alphas = list(values.get("feature_alpha") or [])
    rows = [
        {"index": index, "alpha": alphas[number] if number < len(alphas) else default_alpha}
        for number, index in enumerate(indices)
    ]
    known = [int(row["index"]) for row in rows if str(row["index"]).isdigit()]
    labels = current_labels(session, str(values.get("sae") or ""), known)
    for row in rows:
        row["label"] = labels.get(int(row["index"])) if str(row["index"]).isdigit() else None
        row["known"] = str(row["index"]).isdigit() and int(row["index"]) in labels
    spare = 0 if values.get("rerender") else 1
    rows += [{"index": "", "alpha": default_alpha}] * max(FEATURE_ROWS - len(rows), spare)
    context = {
        "saes": saes_for_form(session),
        "values": values,
        "feature_rows": rows[:MAX_STEERED_FEATURES],
        "errors": errors or [],
        "max_new_tokens_cap": MAX_NEW_TOKENS_CAP,
        "default_max_new_tokens": DEFAULT_MAX_NEW_TOKENS,
        "alpha_description": ALPHA_DESCRIPTION,
        "alpha_guides": guides,
        "observations": OBSERVATIONS,
    }
    return render(request, FORM, context, status_code=status_code)


@router.get("/steer", name="steer_page")
def steer_page(
    request: Request,
    session: SessionDep,
    sae: Annotated[str | None, Query(max_length=200)] = None,
    feature: Annotated[list[int] | None, Query()] = None,
    alpha: Annotated[list[float] | None, Query()] = None,
    from_job: Annotated[str | None, Query(alias="from", max_length=64)] = None,
) -> HTMLResponse:
    """The steering form, prefilled from a feature page (sae, feature) or an earlier job."""
    values: dict[str, object] = {"sae": sae or "", **study_from_job(session, from_job)}
    if feature:
        values["feature_index"] = [str(index) for index in feature]
        values["feature_alpha"] = [f"{value:g}" for value in alpha or []]
    else:
        earlier = features_from_job(session, from_job)
        values["feature_index"] = [str(f["index"]) for f in earlier]
        values["feature_alpha"] = [f["alpha"] for f in earlier]
    return _render_form(request, session, values)


@router.post("/steer", name="steer_submit", dependencies=[rate_limited("steer")])
async def steer_submit(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Store any images, queue the job (or find the identical one), and go to its page."""
    return await submit_form(
        request,
        session,
        settings,
        model=SteerRequest,
        submit=submit_steer,
        render_form=_render_form,
        result_route="steer_result_page",
    )


@router.get("/steer/{job_id}", name="steer_result_page")
def steer_result_page(request: Request, job_id: str, session: SessionDep) -> HTMLResponse:
    """A steer job's shareable page: progress, then the two reports side by side."""
    return result_page(request, session, job_id, "steer")
