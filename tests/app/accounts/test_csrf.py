"""CSRF tokens on forms and htmx requests, and the Origin check on every state-changing request."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.services.accounts import UserOut
from app.services.api_keys import create_key
from db.models import Job
from tests.app.accounts.conftest import PASSWORD
from tests.support.csrf import form_token

EVIL = "http://evil.example"


def test_a_form_post_without_the_token_is_refused(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut]
) -> None:
    make_user("ada")
    client = make_client()
    form_token(client)  # the browser has its cookie, but the form lacks the token
    response = client.post("/login", data={"name": "ada", "password": PASSWORD})
    assert response.status_code == 403
    assert "security token" in response.text
    forged = client.post(
        "/login", data={"name": "ada", "password": PASSWORD, "csrf_token": "0" * 64}
    )
    assert forged.status_code == 403


def test_a_token_from_another_browser_is_refused(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut]
) -> None:
    make_user("ada")
    attacker, victim = make_client(), make_client()
    token = form_token(attacker)
    form_token(victim)
    response = victim.post(
        "/login", data={"name": "ada", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 403


def test_a_multipart_encode_form_without_the_token_queues_nothing(
    make_client: Callable[..., TestClient], session: Session
) -> None:
    client = make_client()
    form_token(client)
    before = session.scalar(select(func.count()).select_from(Job))
    response = client.post("/encode", data={"sae": "x"}, files={"frontal": ("a.png", b"x")})
    assert response.status_code == 403
    assert session.scalar(select(func.count()).select_from(Job)) == before


def test_a_cross_origin_post_is_refused_even_with_the_token(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut], session: Session
) -> None:
    make_user("ada")
    client = make_client()
    data = {"name": "ada", "password": PASSWORD, "csrf_token": form_token(client)}
    assert client.post("/login", data=data, headers={"Origin": EVIL}).status_code == 403
    referer = {"Referer": f"{EVIL}/page"}
    assert client.post("/login", data=data, headers=referer).status_code == 403
    same = {"Origin": "http://testserver"}
    assert client.post("/login", data=data, headers=same).status_code == 303


def test_a_cross_site_api_post_creates_no_job(
    make_client: Callable[..., TestClient], session: Session
) -> None:
    client = make_client()
    before = session.scalar(select(func.count()).select_from(Job))
    body = {"sae": "test-sae", "frontal": "00000000-0000-0000-0000-000000000000"}
    response = client.post("/api/v1/encode", json=body, headers={"Origin": EVIL})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "This request came from another site; it was refused to protect your account."
    }
    assert session.scalar(select(func.count()).select_from(Job)) == before
    # Without an Origin (curl, scripts) the API answers as before: here, a missing upload.
    assert client.post("/api/v1/encode", json=body).status_code == 422


def test_bearer_requests_are_exempt_from_the_browser_checks(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut], session: Session
) -> None:
    user = make_user("ada")
    secret = create_key(session, user_id=user.id, name="script").secret
    client = make_client()
    response = client.delete(
        "/jobs/00000000-0000-0000-0000-000000000000",
        headers={"Authorization": f"Bearer {secret}", "Origin": EVIL},
    )
    assert response.status_code == 404  # past the Origin and CSRF checks, to the lookup


def test_htmx_delete_needs_the_header(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    form_token(client)
    missing = "/jobs/00000000-0000-0000-0000-000000000000"
    assert client.delete(missing).status_code == 403
    assert client.delete(missing, headers={"X-CSRF-Token": form_token(client)}).status_code == 404


def test_pages_carry_the_token_for_forms_and_htmx(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    page = client.get("/login")
    token = form_token(client)
    assert f'<meta name="csrf-token" content="{token}">' in page.text
    assert f'name="csrf_token" value="{token}"' in page.text
    assert "/static/csrf.js" in page.text
