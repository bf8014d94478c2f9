"""API keys: made on the account page and shown once, stored hashed, Bearer auth, revocation,
last use; rate limits per key with 429 and Retry-After, documented in OpenAPI."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.services.accounts import UserOut
from app.services.api_keys import create_key
from tests.app.accounts.conftest import sign_in
from tests.support.csrf import form_token

KEY_PATTERN = re.compile(r'<code id="new-api-key">([^<]+)</code>')


def test_a_key_made_on_the_account_page_is_shown_once_and_stored_hashed(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut], session: Session
) -> None:
    make_user("ada")
    client = make_client()
    sign_in(client, "ada")
    created = client.post(
        "/account/keys", data={"name": "notebook", "csrf_token": form_token(client)}
    )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    match = KEY_PATTERN.search(created.text)
    assert match is not None
    secret = match.group(1)
    again = client.get("/account")
    assert secret not in again.text
    assert "notebook" in again.text and secret[:11] in again.text  # its prefix identifies it
    rows = session.execute(text("SELECT * FROM api_keys")).mappings().all()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0].values())
    assert secret not in stored
    assert secret[11:] not in stored  # not even the part after the shown prefix


def test_bearer_keys_authenticate_until_revoked(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut], session: Session
) -> None:
    user = make_user("ada")
    secret = create_key(session, user_id=user.id, name="script").secret
    client = make_client(require_login=True)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/saes").status_code == 401
    assert client.get("/api/v1/saes", headers=bearer).status_code == 200
    last_used = session.execute(text("SELECT last_used_at FROM api_keys")).scalar_one()
    assert last_used is not None
    wrong = client.get("/api/v1/saes", headers={"Authorization": "Bearer msae_not-a-key"})
    assert wrong.status_code == 401 and "unknown or has been revoked" in wrong.json()["detail"]

    sign_in(client, "ada")
    key_id = session.execute(text("SELECT id FROM api_keys")).scalar_one()
    revoked = client.post(f"/account/keys/{key_id}/revoke", data={"csrf_token": form_token(client)})
    assert revoked.status_code == 303
    client.cookies.clear()
    refused = client.get("/api/v1/saes", headers=bearer)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")


def test_someone_else_cannot_revoke_my_key(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut], session: Session
) -> None:
    mine = create_key(session, user_id=make_user("ada").id, name="mine")
    make_user("eve")
    client = make_client()
    sign_in(client, "eve")
    response = client.post(
        f"/account/keys/{mine.key.id}/revoke", data={"csrf_token": form_token(client)}
    )
    assert response.status_code == 404
    bearer = {"Authorization": f"Bearer {mine.secret}"}
    assert client.get("/api/v1/saes", headers=bearer).status_code == 200


def test_a_rate_limited_key_gets_429_with_retry_after(
    make_client: Callable[..., TestClient], make_user: Callable[..., UserOut], session: Session
) -> None:
    user = make_user("ada")
    first = create_key(session, user_id=user.id, name="one").secret
    second = create_key(session, user_id=user.id, name="two").secret
    client = make_client(rate_limits={"uploads": 2})

    def upload(secret: str) -> Response:
        response = client.post("/api/v1/uploads", headers={"Authorization": f"Bearer {secret}"})
        return response

    assert [upload(first).status_code for _ in range(2)] == [422, 422]
    limited = upload(first)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "at most 2 per 60 s" in limited.json()["detail"]
    assert upload(second).status_code == 422  # each key counts on its own
    # Another app instance on the same database sees the same count.
    assert (
        make_client(rate_limits={"uploads": 2})
        .post("/api/v1/uploads", headers={"Authorization": f"Bearer {first}"})
        .status_code
        == 429
    )


def test_anonymous_clients_are_limited_by_address(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limits={"encode": 1})
    body = {"sae": "none", "frontal": "00000000-0000-0000-0000-000000000000"}
    assert client.post("/api/v1/encode", json=body).status_code == 422
    assert client.post("/api/v1/encode", json=body).status_code == 429


def test_openapi_documents_429_with_retry_after(make_client: Callable[..., TestClient]) -> None:
    schema = make_client().get("/openapi.json").json()
    for path in ("/api/v1/encode", "/api/v1/steer", "/api/v1/uploads"):
        answer = schema["paths"][path]["post"]["responses"]["429"]
        assert answer["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"
        }
        assert "Retry-After" in answer["headers"]
        assert {"401", "403"} <= set(schema["paths"][path]["post"]["responses"])
    assert "401" in schema["paths"]["/api/v1/saes"]["get"]["responses"]
    assert "403" not in schema["paths"]["/api/v1/saes"]["get"]["responses"]
