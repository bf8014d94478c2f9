"""Request-boundary checks, once for every route: no NUL byte in the path, the query string or a
small form or JSON body, and JSON and form bodies that are UTF-8; anything else is a 400.

PostgreSQL refuses NUL in text and JSONB, so such values must never reach a query. Multipart
bodies (uploads) are not buffered here: their text fields are checked by `app.services.uploads`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import http_error
from app.services.uploads import RequestRejected, receive_or_stall

SMALL_BODY_MAX_BYTES = 1024 * 1024
"""Largest JSON or urlencoded body accepted (larger ones get 413); uploads are multipart."""
CHECKED_TYPES = ("application/json", "application/x-www-form-urlencoded")

NUL_IN_ADDRESS = "The address contains a NUL character (%00), which no page or value can hold."
NUL_IN_BODY = "The request body contains a NUL character (\\u0000 or %00), which is not allowed."
UNSTORABLE_IN_JSON = (
    "The JSON body contains a NUL character (\\u0000) or a lone surrogate escape (\\ud800 to "
    "\\udfff), which text cannot hold."
)
NOT_UTF8 = "The request body is not valid UTF-8 text; send JSON and form data encoded as UTF-8."
TOO_LARGE = f"The request body is larger than {SMALL_BODY_MAX_BYTES // 1024} KB."


class BadInput(Exception):
    """Input refused at the boundary: an HTTP status and a message in words."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def unstorable(value: Any) -> bool:
    """Whether a parsed JSON value holds, in any string or key, a NUL character or a lone
    surrogate (`"\\ud800"`), neither of which PostgreSQL text can store."""
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, dict):
        return any(unstorable(key) or unstorable(item) for key, item in value.items())
    if isinstance(value, list):
        return any(unstorable(item) for item in value)
    return False


def check_address(scope: Scope) -> None:
    """Refuse a NUL (raw or percent-encoded) in the path or the query string."""
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    query = scope.get("query_string", b"")
    if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(raw_path):
        raise BadInput(400, NUL_IN_ADDRESS)
    if b"\x00" in unquote_to_bytes(query):
        raise BadInput(400, NUL_IN_ADDRESS)


def check_body(content_type: str, body: bytes) -> None:
    """Refuse a JSON or urlencoded body that is not UTF-8 or that carries a NUL character."""
    if content_type == "application/x-www-form-urlencoded":
        body = unquote_to_bytes(body.replace(b"+", b" "))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(400, NOT_UTF8) from None
    if "\x00" in text:
        raise BadInput(400, NUL_IN_BODY)
    lowered = text.lower()
    if content_type == "application/json" and ("\\u0000" in lowered or "\\ud" in lowered):
        try:
            parsed = json.loads(text)
        except ValueError:
            return
        if unstorable(parsed):
            raise BadInput(400, UNSTORABLE_IN_JSON)


async def read_small_body(receive: Receive, stall_timeout_s: float) -> bytes:
    """The whole body, refused with 413 once it passes SMALL_BODY_MAX_BYTES and with 408 when
    the client sends nothing for `stall_timeout_s`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            message = await receive_or_stall(receive, stall_timeout_s)
        except RequestRejected as stalled:
            raise BadInput(stalled.status_code, stalled.message) from None
        if message["type"] == "http.disconnect":
            raise BadInput(400, "The client closed the connection before sending its body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > SMALL_BODY_MAX_BYTES:
            raise BadInput(413, TOO_LARGE)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the buffered body over once, then defers to the real one."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class BoundaryMiddleware:
    """ASGI middleware: answers 400 (or 413) before routing when the input breaks the rules above;
    the error is JSON under /api and an HTML page elsewhere, and the connection stays open."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_address(scope)
            content_type = Headers(scope=scope).get("content-type", "")
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type in CHECKED_TYPES:
                settings = scope["app"].state.settings
                body = await read_small_body(receive, settings.body_stall_timeout_s)
                check_body(media_type, body)
                receive = replay(body, receive)
        except BadInput as bad:
            request = Request(scope)
            response = await http_error(request, HTTPException(bad.status_code, bad.message))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
