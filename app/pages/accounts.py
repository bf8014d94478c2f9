"""Sign-in pages: /login, /logout, and /account (password change, API keys)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.auth import SESSION_COOKIE, safe_next
from app.deps import CurrentUser, OptionalUser, SessionDep, SettingsDep, rate_limited
from app.services.accounts import (
    AccountError,
    UserOut,
    authenticate,
    end_session,
    start_session,
)
from app.services.accounts import set_password as store_password
from app.services.api_keys import CreatedKey, create_key, list_keys, revoke_key
from app.services.uploads import read_form
from app.templating import render
from db.settings import Settings

router = APIRouter()


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _sign_in(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_days * 86400),
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


@router.get("/login", name="login_page")
def login_page(
    request: Request, user: OptionalUser, next_: Annotated[str, Query(alias="next")] = "/"
) -> HTMLResponse:
    """The sign-in form."""
    return render(request, "login.html", {"next": safe_next(next_), "user": user, "error": None})


@router.post("/login", name="login", dependencies=[rate_limited("login")])
async def login(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Check the name and password; on success set the sign-in cookie and go on."""
    form = await read_form(request, settings)
    name, password = _field(form, "name").strip(), _field(form, "password")
    target = safe_next(_field(form, "next"))
    user = await run_in_threadpool(authenticate, session, name=name, password=password)
    if user is None:
        context = {"next": target, "user": None, "error": "Wrong user name or password."}
        return render(request, "login.html", context, status_code=401)
    token = await run_in_threadpool(
        start_session, session, user_id=user.id, days=settings.session_days
    )
    response = RedirectResponse(target, status_code=303)
    _sign_in(response, token, settings)
    return response


@router.post("/logout", name="logout")
def logout(request: Request, session: SessionDep) -> Response:
    """End this sign-in and go home."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        end_session(session, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _account(
    request: Request,
    session: SessionDep,
    user: UserOut,
    *,
    created: CreatedKey | None = None,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "user": user,
        "keys": list_keys(session, user_id=user.id),
        "created": created,
        "message": message,
        "error": error,
    }
    return render(request, "account.html", context, status_code=status_code)


@router.get("/account", name="account_page")
def account_page(request: Request, session: SessionDep, user: CurrentUser) -> HTMLResponse:
    """The signed-in user's account: password change and API keys."""
    return _account(request, session, user)


@router.post("/account/password", name="account_password")
async def change_password(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> Response:
    """Change the password (the current one is asked again); every other sign-in ends."""
    form = await read_form(request, settings)
    current, new = _field(form, "current_password"), _field(form, "new_password")

    def change() -> Response:
        if authenticate(session, name=user.name, password=current) is None:
            return _account(
                request, session, user, error="The current password is wrong.", status_code=400
            )
        if new != _field(form, "confirm_password"):
            return _account(
                request, session, user, error="The new passwords differ.", status_code=400
            )
        try:
            store_password(session, user_id=user.id, password=new)
        except AccountError as error:
            return _account(request, session, user, error=str(error), status_code=400)
        response = _account(request, session, user, message="Your password was changed.")
        token = start_session(session, user_id=user.id, days=settings.session_days)
        _sign_in(response, token, settings)
        return response

    return await run_in_threadpool(change)


@router.post("/account/keys", name="account_create_key")
async def create_api_key(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> HTMLResponse:
    """Create an API key and show it, this once."""
    form = await read_form(request, settings)

    def create() -> HTMLResponse:
        try:
            created = create_key(session, user_id=user.id, name=_field(form, "name"))
        except AccountError as error:
            return _account(request, session, user, error=str(error), status_code=400)
        response = _account(request, session, user, created=created)
        response.headers["Cache-Control"] = "no-store"
        return response

    return await run_in_threadpool(create)


@router.post("/account/keys/{key_id}/revoke", name="account_revoke_key")
def revoke_api_key(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    key_id: Annotated[int, Path(ge=1, le=2**62)],
) -> Response:
    """Revoke one of my keys; requests with it are refused (401) from now on."""
    if not revoke_key(session, user_id=user.id, key_id=key_id):
        raise HTTPException(404, "You have no such API key (or it is already revoked).")
    return RedirectResponse(request.app.url_path_for("account_page"), status_code=303)
