"""Error responses: JSON `{"detail": "..."}` (always a sentence) under /api, friendly HTML pages
elsewhere, `Allow` listing every method of the path on a 405, and an OpenAPI document that
describes exactly these errors on every operation."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount

from app.templating import render

API_PREFIX = "/api/"
TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    408: "The request stalled",
    413: "Too large",
    415: "Unsupported file type",
    422: "Some values are not valid",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Busy",
    507: "Storage full",
}
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ErrorOut(BaseModel):
    """The body of every JSON error."""

    detail: str = Field(description="What went wrong, in words.")


ERROR_RESPONSES: dict[str, str] = {
    "400": "A NUL character in the address or body, or a body that is not UTF-8.",
    "401": "The API key is unknown or revoked, or this server requires signing in.",
    "403": "Refused: sent from another site's page, or your role may not do this.",
    "404": "Nothing with that name or id.",
    "408": "The client stopped sending its request body.",
    "413": "The request body (or an image in it) is too large.",
    "415": "A file is not a PNG, JPEG or DICOM image.",
    "422": "A value is missing, malformed or out of range.",
    "429": "Too many requests to this endpoint; retry after the `Retry-After` seconds.",
    "503": "The server is busy; retry after the `Retry-After` seconds.",
    "507": "The server's storage for uploaded images is full.",
}


RATE_LIMITED: dict[int | str, dict[str, Any]] = {429: {"description": ERROR_RESPONSES["429"]}}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _error_page(request: Request, status_code: int, messages: list[str]) -> Response:
    title = TITLES.get(status_code, "Error")
    context = {"status_code": status_code, "title": title, "messages": messages}
    return render(request, "error.html", context, status_code=status_code)


def describe_error(error: dict) -> str:
    """One validation error in words, e.g. 'min_f1: Input should be less than or equal to 1'."""
    where = [str(part) for part in error.get("loc", ()) if part not in ("query", "path", "body")]
    prefix = f"{'.'.join(where)}: " if where else ""
    return prefix + str(error.get("msg", "invalid value"))


def allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at this request's path (mounted apps left out)."""
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "GET, HEAD")
    if _is_api(request):
        return JSONResponse({"detail": str(exc.detail)}, exc.status_code, headers=headers)
    response = _error_page(request, exc.status_code, [str(exc.detail)])
    response.headers.update(headers)
    return response


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    messages = [describe_error(error) for error in exc.errors()]
    if _is_api(request):
        return JSONResponse({"detail": "; ".join(messages)}, 422)
    return _error_page(request, 422, messages)


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def _document_errors(operation: dict[str, Any], path: str, method: str) -> None:
    """Give an operation every error status it can answer, each with the ErrorOut body."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    wanted = {"400", "401", "503"}
    if method.upper() not in ("GET", "HEAD", "OPTIONS"):
        wanted.add("403")
    if operation.get("parameters") or operation.get("requestBody"):
        wanted.add("422")
    if re.search(r"{[^}]+}", path):
        wanted.add("404")
    body = operation.get("requestBody", {}).get("content", {})
    if body:
        wanted |= {"408", "413"}
    if "multipart/form-data" in body:
        wanted |= {"415", "507"}
    for code in sorted(wanted | {code for code in responses if code[0] in "45"}):
        entry = responses.setdefault(code, {})
        entry.setdefault("description", ERROR_RESPONSES.get(code, "An error."))
        entry["content"] = _error_content()
        if code in ("429", "503"):
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            }


def honest_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi` documenting the real errors: `{"detail": string}` for every status (422
    included), and the 400/404/408/413/415/503/507 answers routes give besides their own."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                _document_errors(operation, path, method)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["ErrorOut"] = ErrorOut.model_json_schema()
        app.openapi_schema = schema
        return schema

    return openapi


def install_error_handlers(app: FastAPI) -> None:
    """Route HTTP and validation errors through our JSON or HTML renderers, and document them."""
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.openapi = honest_openapi(app)  # type: ignore[method-assign]
