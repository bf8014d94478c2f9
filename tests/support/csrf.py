"""CSRF tokens for test clients: what a page's forms and htmx requests send (see app/auth.py)."""

from __future__ import annotations

from starlette.testclient import TestClient

from app.auth import BROWSER_COOKIE, CSRF_HEADER, csrf_token


def form_token(client: TestClient) -> str:
    """The client's CSRF token, visiting a page first when it has no browser cookie yet."""
    if BROWSER_COOKIE not in client.cookies:
        client.get("/login")
    return csrf_token(client.cookies[BROWSER_COOKIE])


def csrf_headers(client: TestClient) -> dict[str, str]:
    """The header htmx sends (static/csrf.js)."""
    return {CSRF_HEADER: form_token(client)}
