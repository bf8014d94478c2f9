"""Request dependencies: the database session, the settings, who is asking (`OptionalUser`,
`CurrentUser`, `require_role`), rate limits, and lookup-or-404 checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.request_session import get_session
from app.schemas.jobs import JobOut
from app.schemas.saes import SaeRef
from app.services.accounts import UserOut
from app.services.jobs import find_job
from app.services.rate_limits import hit
from app.services.saes import find_sae, no_such_feature, unknown_sae
from db.driver import ReadPlan, driver_connection, run_plan
from db.ownership import Principal
from db.read_pool import run_plan_async
from db.settings import Settings

T = TypeVar("T")


class LoginRequired(Exception):
    """The request needs a signed-in user (answered 401 for the API, else a redirect to /login;
    see app.auth.login_required)."""


async def run_and_close(
    session: Session, function: Callable[..., T], /, *args: Any, **kwargs: Any
) -> T:
    """`function(*args, **kwargs)`, then the session closed, in one thread-pool hop: the
    request's whole database work, with its connection back in the pool when it returns.

    A session bound to a connection rather than the engine (the tests' rolled-back one) belongs
    to whoever opened that connection and is left open.
    """

    def work() -> T:
        try:
            return function(*args, **kwargs)
        finally:
            if isinstance(session.get_bind(), Engine):
                session.close()

    return await run_in_threadpool(work)


async def run_read(request: Request, session: Session, plan: ReadPlan[T]) -> T:
    """The result of a read plan, read on the event loop through the app's read pool
    (`db.read_pool`): no thread-pool hop, no transaction.

    A session that holds a transaction already (a dependency such as a rate limit used it), or
    that is bound to a connection rather than the engine (the tests' rolled-back one), reads on
    its own connection instead, in one hop: a request never holds two connections, and reads
    what its transaction sees.
    """
    if session.in_transaction() or not isinstance(session.get_bind(), Engine):
        return await run_and_close(session, _run_on_session, session, plan)
    async with request.app.state.read_pool.connection() as connection:
        return await run_plan_async(connection, plan)


def _run_on_session(session: Session, plan: ReadPlan[T]) -> T:
    # Taking the session's connection may check it out and ping it: in the thread, not the loop.
    return run_plan(driver_connection(session), plan)


async def get_app_settings(request: Request) -> Settings:
    """The settings the application was created with."""
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_principal(request: Request) -> Principal:
    """Who the request acts for, as `app.auth.guard` (which runs first on every route) found."""
    return getattr(request.state, "principal", None) or Principal()


async def optional_user(request: Request) -> UserOut | None:
    """The signed-in user (by sign-in cookie or API key), or None."""
    return getattr(request.state, "user", None)


async def current_user(user: Annotated[UserOut | None, Depends(optional_user)]) -> UserOut:
    """The signed-in user; anonymous requests get 401 (API) or go to /login (pages)."""
    if user is None:
        raise LoginRequired
    return user


PrincipalDep = Annotated[Principal, Depends(get_principal)]
OptionalUser = Annotated[UserOut | None, Depends(optional_user)]
CurrentUser = Annotated[UserOut, Depends(current_user)]


def require_role(*roles: str) -> Callable[..., Any]:
    """A dependency returning the signed-in user when their role is one of `roles` (admins
    always pass); 403 otherwise. Use as `Annotated[UserOut, Depends(require_role("reviewer"))]`
    or in a route's `dependencies=[Depends(require_role("admin"))]`."""

    async def dependency(user: CurrentUser) -> UserOut:
        if not user.has_role(*roles):
            raise HTTPException(
                403, f"This needs the role {' or '.join(roles)}; you are signed in as {user.role}."
            )
        return user

    return dependency


AdminUser = Annotated[UserOut, Depends(require_role("admin"))]


def rate_limited(bucket: str) -> Any:
    """A route dependency counting the request in the named bucket, per API key, else per
    signed-in user, else per client address; 429 with Retry-After past the limit
    (`Settings.rate_limit`). Every web process shares the counts (PostgreSQL)."""

    def dependency(
        request: Request, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
    ) -> None:
        if principal.api_key_id is not None:
            subject = f"key:{principal.api_key_id}"
        elif principal.user_id is not None:
            subject = f"user:{principal.user_id}"
        else:
            subject = f"ip:{request.client.host if request.client else 'unknown'}"
        limit = settings.rate_limit(bucket)
        window = settings.rate_limit_window_s
        verdict = hit(session, bucket=bucket, subject=subject, limit=limit, window_s=window)
        if not verdict.allowed:
            raise HTTPException(
                429,
                f"Too many {bucket} requests: at most {limit} per {window} s. "
                f"Please retry in {verdict.retry_after_s} s.",
                headers={"Retry-After": str(verdict.retry_after_s)},
            )

    return Depends(dependency)


SaeSlug = Annotated[str, Path(description="Slug of the SAE, e.g. `maira2-l15-ef4`.")]
FeatureIndex = Annotated[int, Path(ge=0, description="Index of the feature (latent) in its SAE.")]


def valid_sae(sae: SaeSlug, session: SessionDep) -> SaeRef:
    """The SAE named by the `sae` path parameter, or 404."""
    found = find_sae(session, slug=sae)
    if found is None:
        raise HTTPException(status_code=404, detail=unknown_sae(sae))
    return found


SaeDep = Annotated[SaeRef, Depends(valid_sae)]


async def valid_feature_index(index: FeatureIndex, sae: SaeDep) -> int:
    """The `index` path parameter when the SAE has such a feature, else 404 (no I/O: async)."""
    if index >= sae.d_sae:
        raise HTTPException(status_code=404, detail=no_such_feature(sae, index))
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
