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
