"""Every JSON error under /api/v1 is `{"detail": ...}` with the right status."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import SeededData


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/saes/no-such-sae", 404),
        ("/api/v1/saes/no-such-sae/features", 404),
        ("/api/v1/saes/test-sae/features/40", 404),
        ("/api/v1/saes/test-sae/features/-1", 422),
        ("/api/v1/saes/test-sae/features/abc", 422),
        ("/api/v1/saes/test-sae/features?min_f1=2", 422),
        ("/api/v1/saes/test-sae/features?min_f1=0.8&max_f1=0.2", 422),
        ("/api/v1/saes/test-sae/features?min_frequency=0.5&max_frequency=0.1", 422),
        ("/api/v1/saes/test-sae/features?sort=label", 422),
        ("/api/v1/saes/test-sae/features?limit=0", 422),
        ("/api/v1/saes/test-sae/features?cursor=not-a-cursor", 422),
        ("/api/v1/search", 422),
        ("/api/v1/no-such-endpoint", 404),
    ],
)
def test_error_shape(client: TestClient, seeded: SeededData, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["detail"]
    assert body["detail"]


def test_unknown_sae_names_it(client: TestClient, seeded: SeededData) -> None:
    assert "no-such-sae" in client.get("/api/v1/saes/no-such-sae").json()["detail"]


def test_cursor_of_another_order_is_rejected(client: TestClient, seeded: SeededData) -> None:
    first = client.get("/api/v1/saes/test-sae/features?limit=5&sort=f1").json()
    response = client.get(
        f"/api/v1/saes/test-sae/features?sort=index&cursor={first['next_cursor']}"
    )
    assert response.status_code == 422


def test_stored_feature_missing_is_404(client: TestClient, session, seeded: SeededData) -> None:
    from sqlalchemy import text

    session.execute(text("DELETE FROM features WHERE index = 5"))
    response = client.get("/api/v1/saes/test-sae/features/5")
    assert response.status_code == 404
    assert response.json() == {"detail": "Feature 5 of SAE 'test-sae' has no stored data."}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/api/v1/jobs/0c8a3f4e-0000-4000-8000-000000000000", "GET, DELETE"),
        ("PUT", "/api/v1/uploads/0c8a3f4e-0000-4000-8000-000000000000", "GET, DELETE"),
        ("GET", "/api/v1/uploads", "POST"),
        ("DELETE", "/steer", "GET, POST"),
    ],
)
def test_405_allow_lists_every_method_of_the_path(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


def test_422_detail_is_a_sentence_like_every_other_error(
    client: TestClient, seeded: SeededData
) -> None:
    response = client.get("/api/v1/saes/test-sae/features?min_f1=2&limit=0")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert "min_f1: Input should be less than or equal to 1" in detail
    assert "limit: Input should be greater than or equal to 1" in detail


def test_openapi_documents_the_real_error_body_and_statuses(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["ErrorOut"]["required"] == ["detail"]
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"400", "503"} <= set(responses), (method, path)
            for code, response in responses.items():
                if code[0] in "45":
                    assert response["content"] == error_body, (method, path, code)
    assert "404" in schema["paths"]["/api/v1/saes/{sae}"]["get"]["responses"]
    upload = schema["paths"]["/api/v1/uploads"]["post"]["responses"]
    assert {"408", "413", "415", "422", "507"} <= set(upload)
