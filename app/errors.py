"""Error responses: JSON `{"detail": ...}` under /api, friendly HTML pages elsewhere."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.templating import render

API_PREFIX = "/api/"
TITLES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    422: "Some values are not valid",
    500: "Something went wrong",
}


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


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _is_api(request):
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
    return _error_page(request, exc.status_code, [str(exc.detail)])


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _is_api(request):
        return JSONResponse({"detail": jsonable_encoder(exc.errors())}, 422)
    return _error_page(request, 422, [describe_error(error) for error in exc.errors()])


def install_error_handlers(app: FastAPI) -> None:
    """Route HTTP and validation errors through our JSON or HTML renderers."""
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
