"""Who is asking, and whether a state-changing request may go on: one shared guard for every
route (app-level dependency) plus the middleware that gives each browser its anonymous id.

- Identity: `Authorization: Bearer <key>` (an API key), else the sign-in cookie, else anonymous.
  An anonymous browser is known by its random `maira_browser` cookie, so it still sees its own
  jobs and uploads; a client that sends no cookie has no identity at all.
- `MAIRA_SAE_REQUIRE_LOGIN`: everything but /login and static files needs a signed-in user
  (pages redirect to /login, the API answers 401).
- POST/PUT/PATCH/DELETE: an `Origin` (or, lacking it, `Referer`) naming another host is refused
  (403), for the API too; pages also need the CSRF token, sent as the form field `csrf_token` or
  the `X-CSRF-Token` header (static/app.js adds it to htmx requests). The token is an HMAC of the
  browser's httpOnly cookie, which another site can neither read nor set. Requests with an API
  key carry no cookies and are exempt from both.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.deps import LoginRequired, SessionDep
from app.errors import API_PREFIX
from app.services.accounts import UserOut, session_user
from app.services.api_keys import key_user
from app.services.uploads import RequestRejected, read_form
from db.ownership import Principal, anon_owner, set_principal

BROWSER_COOKIE = "maira_browser"
SESSION_COOKIE = "maira_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
PUBLIC_WHEN_LOGIN_REQUIRED = ("/login", "/static/")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BROWSER_COOKIE_MAX_AGE_S = 365 * 24 * 3600


def _cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies, parsed as Starlette parses them (`Request.cookies`), which reads
    what browsers send and skips what it cannot read."""
    cookies: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            cookies |= cookie_parser(value.decode("latin-1"))
    return cookies


def _valid_id(value: str | None) -> bool:
    return value is not None and 20 <= len(value) <= 100 and value.isascii() and value.isprintable()


class BrowserIdMiddleware:
    """Give every browser a random anonymous id in an httpOnly, SameSite=Lax cookie; the id is
    in `scope["state"]["browser_id"]`, and `browser_id_sent` says whether the client sent it.
    The cookies it parsed are in `scope["state"]["cookies"]`."""

    def __init__(self, app: ASGIApp, *, secure: bool = False) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["cookies"] = _cookies(scope)
        sent = state["cookies"].get(BROWSER_COOKIE)
        state["browser_id_sent"] = _valid_id(sent)
        state["browser_id"] = sent if _valid_id(sent) else secrets.token_urlsafe(24)
        if state["browser_id_sent"]:
            await self.app(scope, receive, send)
            return
        cookie = (
            f"{BROWSER_COOKIE}={state['browser_id']}; Path=/; Max-Age={BROWSER_COOKIE_MAX_AGE_S}; "
            f"HttpOnly; SameSite=Lax{'; Secure' if self.secure else ''}"
        )

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def csrf_token(browser_id: str) -> str:
    """The CSRF token of a browser: an HMAC of its secret cookie."""
    return hmac.new(browser_id.encode(), b"maira-sae csrf", hashlib.sha256).hexdigest()


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def _identify(request: Request, session: SessionDep) -> tuple[UserOut | None, int | None]:
    """The user (and API key id) the request authenticates as; 401 for a bad key.

    The lookup's transaction ends here, so its connection goes back to the pool: routes that
    read on the event loop (`app.deps.run_read`) then hold one connection, not two.
    """
    found = _lookup(request, session)
    session.commit()
    return found


def _lookup(request: Request, session: SessionDep) -> tuple[UserOut | None, int | None]:
    secret = _bearer(request)
    if secret is not None:
        found = key_user(session, secret) if secret else None
        if found is None:
            raise HTTPException(
                401,
                "The API key is unknown or has been revoked.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return found
    token = request.cookies.get(SESSION_COOKIE)
    if token and len(token) <= 100:
        return session_user(session, token), None
    return None, None


def check_origin(request: Request) -> None:
    """403 when the request says it comes from a page of another host."""
    origin = request.headers.get("origin")
    source = origin if origin is not None else request.headers.get("referer")
    if source is None:
        return
    host = request.headers.get("host", "").lower()
    if source == "null" or urlsplit(source).netloc.lower() != host:
        raise HTTPException(
            403, "This request came from another site; it was refused to protect your account."
        )


async def _sent_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        settings = request.app.state.settings
        try:
            form = await read_form(request, settings)
        except RequestRejected as error:
            raise HTTPException(error.status_code, error.message, headers=error.headers) from None
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def check_csrf(request: Request) -> None:
    """403 unless the request carries this browser's CSRF token."""
    state = request.scope.get("state", {})
    sent = await _sent_token(request)
    expected = csrf_token(state["browser_id"]) if state.get("browser_id_sent") else None
    if expected is None or sent is None or not hmac.compare_digest(sent, expected):
        raise HTTPException(
            403,
            "The form's security token is missing or out of date; reload the page and try again.",
        )


def _public(path: str) -> bool:
    return path.startswith(PUBLIC_WHEN_LOGIN_REQUIRED)


async def guard(request: Request, session: SessionDep) -> Principal:
    """The app-level dependency: identify, enforce sign-in when required, check Origin and CSRF
    on state-changing requests; records the principal on the request and its database session."""
    state = request.scope.setdefault("state", {})
    browser_id = state.get("browser_id")
    cookies = state["cookies"]
    path = request.scope["path"]
    user, key_id = None, None
    if "authorization" in request.headers or SESSION_COOKIE in cookies:
        user, key_id = await run_in_threadpool(_identify, request, session)
    principal = Principal(
        user_id=user.id if user else None,
        role=user.role if user else None,
        anon=anon_owner(browser_id) if browser_id and state.get("browser_id_sent") else None,
        api_key_id=key_id,
    )
    request.state.user = user
    request.state.principal = principal
    request.state.csrf_token = csrf_token(browser_id) if browser_id else ""
    set_principal(session, principal)
    if request.app.state.settings.require_login and user is None and not _public(path):
        raise LoginRequired
    if request.method not in SAFE_METHODS and key_id is None:
        check_origin(request)
        if not path.startswith(API_PREFIX):
            await check_csrf(request)
    return principal


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if target.startswith(("/login", "/logout")):
        return "/"
    return target


async def login_required(request: Request, exc: Exception) -> Response:
    """401 with `WWW-Authenticate` for the API; a redirect to the sign-in page otherwise."""
    if request.url.path.startswith(API_PREFIX):
        return JSONResponse(
            {"detail": "Sign in first: send an API key as `Authorization: Bearer <key>`."},
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
