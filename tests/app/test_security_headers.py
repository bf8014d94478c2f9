"""Every kind of response (pages, API, static files, errors) carries the security headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.security_headers import security_headers
from tests.support.factories import SeededData

ADDRESSES = [
    ("GET", "/", 200),
    ("GET", "/saes/{slug}", 200),
    ("GET", "/saes/{slug}/features", 200),
    ("GET", "/saes/{slug}/features/1", 200),
    ("GET", "/search?q=effusion", 200),
    ("GET", "/encode", 200),
    ("GET", "/steer", 200),
    ("GET", "/api/v1/saes", 200),
    ("GET", "/api/v1/saes/{slug}/features/1", 200),
    ("GET", "/openapi.json", 200),
    ("GET", "/docs", 200),
    ("GET", "/static/app.css", 200),
    ("GET", "/static/app.js", 200),
    ("GET", "/static/no-such-file.js", 404),
    ("GET", "/saes/no-such-sae", 404),
    ("GET", "/api/v1/saes/no-such-sae", 404),
    ("GET", "/api/v1/saes/{slug}/features?limit=0", 422),
    ("GET", "/saes/{slug}/features?limit=0", 422),
    ("GET", "/search?q=%00", 400),
    ("PATCH", "/api/v1/saes", 405),
]


@pytest.mark.parametrize(("method", "address", "status"), ADDRESSES)
def test_every_response_carries_the_security_headers(
    client: TestClient, seeded: SeededData, method: str, address: str, status: int
) -> None:
    response = client.request(method, address.format(slug=seeded.sae_slug))
    assert response.status_code == status
    for name, value in security_headers().items():
        assert response.headers[name] == value, name


def test_an_unexpected_error_page_carries_them_too(app: FastAPI) -> None:
    """A 500 comes from Starlette's outermost middleware; the headers still wrap it."""

    @app.get("/boom-for-test")
    def boom() -> None:
        raise RuntimeError("an unexpected failure")

    response = TestClient(app, raise_server_exceptions=False).get("/boom-for-test")
    assert response.status_code == 500
    for name, value in security_headers().items():
        assert response.headers[name] == value, name


def test_the_policy_runs_only_our_own_scripts() -> None:
    policy = dict(
        part.split(" ", 1) for part in security_headers()["Content-Security-Policy"].split("; ")
    )
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert "unsafe-eval" not in policy["script-src"]
    assert security_headers()["X-Content-Type-Options"] == "nosniff"
    assert security_headers()["Referrer-Policy"] == "same-origin"


def test_templates_hold_no_inline_script_or_event_handler() -> None:
    templates = Path(__file__).resolve().parents[2] / "templates"
    for template in templates.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+\s*=|\shx-on", text), template
