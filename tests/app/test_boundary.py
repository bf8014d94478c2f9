"""Hostile input at the request boundary: NUL bytes in paths, queries and bodies, bodies that are
not UTF-8; each gets a clear 400 (JSON under /api, a page elsewhere), never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import SeededData

NUL_ADDRESSES = [
    "/api/v1/saes/{slug}%00",
    "/api/v1/saes/%00",
    "/api/v1/saes/{slug}/features?q=%00",
    "/api/v1/saes/{slug}/features?q=effusion%00x",
    "/api/v1/saes/{slug}/features?cursor=%00",
    "/api/v1/saes/{slug}/features/1%00",
    "/api/v1/saes/{slug}%00/features/1",
    "/api/v1/search?q=%00",
    "/api/v1/search?q=a%00b",
    "/api/v1/jobs/%00",
    "/api/v1/uploads/%00",
    "/saes/{slug}%00",
    "/saes/{slug}/features?q=%00",
    "/saes/{slug}%00/features",
    "/saes/{slug}/features/1%00",
    "/search?q=%00",
    "/search?q={slug}/%00",
    "/jobs/%00",
    "/encode?x=%00",
    "/steer?sae=%00",
]


@pytest.mark.parametrize("address", NUL_ADDRESSES)
def test_a_nul_in_the_path_or_query_is_a_clear_400(
    client: TestClient, seeded: SeededData, address: str
) -> None:
    response = client.get(address.format(slug=seeded.sae_slug))
    assert response.status_code == 400, response.text
    if address.startswith("/api/"):
        assert response.json() == {
            "detail": "The address contains a NUL character (%00), which no page or value can hold."
        }
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert "NUL character" in response.text


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"sae": "caf\xe9"}', "not valid UTF-8"),
        (b'{"sae": "a\x00b"}', "NUL character"),
        (b'{"sae": "a\\u0000b", "features": []}', "NUL character (\\u0000)"),
        (b'{"sae": "\\ud800"}', "lone surrogate"),
        (b'{"\\u0000": 1}', "NUL character (\\u0000)"),
    ],
    ids=["latin-1", "raw-nul", "escaped-nul", "lone-surrogate", "nul-key"],
)
def test_json_bodies_that_text_cannot_hold_are_a_clear_400(
    client: TestClient, seeded: SeededData, body: bytes, words: str
) -> None:
    response = client.post(
        "/api/v1/steer", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert words in response.json()["detail"]


def test_a_urlencoded_form_with_nul_or_latin1_is_a_400_page(client: TestClient) -> None:
    for body in (b"sae=a%00b", b"sae=caf%E9", b"sae=caf\xe9"):
        response = client.post(
            "/steer", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert response.status_code == 400, body
        assert "text/html" in response.headers["content-type"]


def test_an_oversized_json_body_is_413(client: TestClient) -> None:
    body = b'{"sae": "' + b"x" * (1024 * 1024) + b'"}'
    response = client.post(
        "/api/v1/steer", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "larger than 1024 KB" in response.json()["detail"]


def test_valid_escapes_still_pass(client: TestClient, seeded: SeededData) -> None:
    response = client.get(f"/api/v1/saes/{seeded.sae_slug}/features", params={"q": "caf\u00e9"})
    assert response.status_code == 200
    response = client.post(
        "/api/v1/steer",
        content=b'{"sae": "caf\\u00e9 \\ud83d\\ude00"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, "a valid surrogate pair reaches validation"
