"""Request dependencies: the database session, the settings and lookup-or-404 checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.schemas.jobs import JobOut
from app.schemas.saes import SaeRef
from app.services.jobs import find_job
from app.services.saes import find_sae
from db.settings import Settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, closed on every path.

    Making a session does no I/O, so it happens on the event loop; closing it (rollback, return
    the connection to the pool) runs in the thread pool. The request was admitted by
    `app.admission` first, so the pool has a connection free for it.
    """
    session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        await run_in_threadpool(session.close)


async def get_app_settings(request: Request) -> Settings:
    """The settings the application was created with."""
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def valid_sae(
    sae: Annotated[str, Path(description="Slug of the SAE, e.g. `maira2-l15-ef4`.")],
    session: SessionDep,
) -> SaeRef:
    """The SAE named by the `sae` path parameter, or 404."""
    found = find_sae(session, slug=sae)
    if found is None:
        raise HTTPException(status_code=404, detail=f"There is no SAE named {sae!r}.")
    return found


SaeDep = Annotated[SaeRef, Depends(valid_sae)]


async def valid_feature_index(
    index: Annotated[int, Path(ge=0, description="Index of the feature (latent) in its SAE.")],
    sae: SaeDep,
) -> int:
    """The `index` path parameter when the SAE has such a feature, else 404 (no I/O: async)."""
    if index >= sae.d_sae:
        raise HTTPException(
            status_code=404,
            detail=f"SAE {sae.slug!r} has {sae.d_sae:,} features (0 to {sae.d_sae - 1:,}); "
            f"there is no feature {index:,}.",
        )
    return index


FeatureIndexDep = Annotated[int, Depends(valid_feature_index)]


def valid_job(
    job_id: Annotated[str, Path(description="The job's id (a UUID).")], session: SessionDep
) -> JobOut:
    """The job named by the `job_id` path parameter, or 404 (a malformed id included)."""
    found = find_job(session, job_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"There is no job {job_id!r}.")
    return found


JobDep = Annotated[JobOut, Depends(valid_job)]
