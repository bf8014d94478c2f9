"""Signing in and out, changing a password, the require-login setting, and roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import SESSION_COOKIE
from app.deps import require_role
from app.services import accounts
from app.services.accounts import UserOut, authenticate
from db.models import UserSession
from tests.app.accounts.conftest import PASSWORD, sign_in
from tests.support.csrf import form_token

Reviewer = Annotated[UserOut, Depends(require_role("reviewer"))]


def test_login_sets_a_session_whose_token_is_stored_hashed(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut], session: Session
) -> None:
    make_user("ada", "reviewer")
    client = make_client()
    sign_in(client, "ada")
    token = client.cookies[SESSION_COOKIE]
    stored = session.scalars(select(UserSession.token_sha256)).all()
    assert len(stored) == 1 and token not in stored[0]
    page = client.get("/account")
    assert page.status_code == 200
    assert "ada" in page.text and "reviewer" in page.text


def test_wrong_password_and_unknown_user_get_the_same_answer(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut]
) -> None:
    make_user("ada")
    client = make_client()
    for name, password in (("ada", "wrong password!"), ("nobody", PASSWORD)):
        response = client.post(
            "/login",
            data={"name": name, "password": password, "csrf_token": form_token(client)},
        )
        assert response.status_code == 401
        assert "Wrong user name or password." in response.text
        assert SESSION_COOKIE not in client.cookies


def test_logout_ends_the_session(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut]
) -> None:
    make_user("ada")
    client = make_client()
    sign_in(client, "ada")
    token = client.cookies[SESSION_COOKIE]
    response = client.post("/logout", data={"csrf_token": form_token(client)})
    assert response.status_code == 303
    client.cookies.set(SESSION_COOKIE, token)  # a stolen copy of the cookie no longer works
    assert client.get("/account").status_code == 303


def test_password_change_needs_the_current_one_and_ends_other_sessions(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut], session: Session
) -> None:
    make_user("ada")
    other_browser, client = make_client(), make_client()
    sign_in(other_browser, "ada")
    sign_in(client, "ada")
    new = "a much better passphrase"
    form = {"new_password": new, "confirm_password": new, "csrf_token": form_token(client)}
    wrong = client.post("/account/password", data={**form, "current_password": "nope nope!"})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    changed = client.post("/account/password", data={**form, "current_password": PASSWORD})
    assert changed.status_code == 200 and "Your password was changed." in changed.text
    assert client.get("/account").status_code == 200  # this browser got a new session
    assert other_browser.get("/account").status_code == 303
    assert authenticate(session, name="ada", password=new) is not None
    assert authenticate(session, name="ada", password=PASSWORD) is None


def test_require_login_redirects_pages_and_refuses_the_api(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut]
) -> None:
    make_user("ada")
    client = make_client(require_login=True)
    page = client.get("/search?q=heart")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fsearch%3Fq%3Dheart"
    api = client.get("/api/v1/saes")
    assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
    assert "detail" in api.json()
    assert client.get("/login").status_code == 200
    sign_in(client, "ada")
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/saes").status_code == 200


def test_browsing_is_public_by_default(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/saes").status_code == 200
    assert client.get("/account").status_code == 303  # only the account page needs a user


def test_login_redirect_never_leaves_the_site(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut]
) -> None:
    make_user("ada")
    client = make_client()
    response = client.post(
        "/login",
        data={
            "name": "ada",
            "password": PASSWORD,
            "next": "//evil.example/x",
            "csrf_token": form_token(client),
        },
    )
    assert response.headers["location"] == "/"


def test_require_role_admits_the_role_and_admins_only(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut]
) -> None:
    for name, role in (("rita", "reviewer"), ("res", "researcher"), ("boss", "admin")):
        make_user(name, role)
    client = make_client()
    app: FastAPI = client.app  # type: ignore[assignment]

    @app.get("/api/v1/only-reviewers")
    def only_reviewers(user: Reviewer) -> dict[str, str]:
        return {"name": user.name}

    assert client.get("/api/v1/only-reviewers").status_code == 401
    expected = {"rita": 200, "res": 403, "boss": 200}
    for name, status in expected.items():
        client.cookies.clear()
        sign_in(client, name)
        assert client.get("/api/v1/only-reviewers").status_code == status, name


def test_login_attempts_are_rate_limited_per_client(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut]
) -> None:
    make_user("ada")
    client = make_client(login_attempts_per_window=3)
    token = form_token(client)
    answers = [
        client.post("/login", data={"name": "ada", "password": "guess!!!!!", "csrf_token": token})
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_a_missing_user_costs_one_argon2_check_like_a_wrong_password(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = accounts._hasher
    accounts._dummy_hash()

    class Spy:
        def verify(self, stored: str, password: str) -> bool:
            checked.append(stored)
            return real.verify(stored, password)

    monkeypatch.setattr(accounts, "_hasher", Spy())
    assert authenticate(session, name="nobody", password="some password") is None
    assert len(checked) == 1 and checked[0].startswith("$argon2id$")
