"""The feature list's cursors in both directions, page numbers and counts that stay cheap."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.services import counts
from tests.support.factories import SeededData

LIST = "/api/v1/saes/test-sae/features"


def _forward(client: TestClient, query: str) -> list[dict]:
    bodies, cursor = [], None
    while True:
        bodies.append(
            client.get(f"{LIST}?{query}" + (f"&cursor={cursor}" if cursor else "")).json()
        )
        cursor = bodies[-1]["next_cursor"]
        if cursor is None:
            return bodies


@pytest.mark.parametrize("sort", ["index", "f1", "-f1", "frequency", "-frequency"])
@pytest.mark.parametrize("limit", [1, 3, 7])
def test_previous_cursors_walk_back_over_the_same_pages(
    client: TestClient, seeded: SeededData, sort: str, limit: int
) -> None:
    forward = _forward(client, f"sort={sort}&limit={limit}")
    assert [body["page"] for body in forward] == list(range(1, len(forward) + 1))
    assert forward[0]["previous_cursor"] is None
    backward, body = [], forward[-1]
    while body["previous_cursor"]:
        body = client.get(f"{LIST}?sort={sort}&limit={limit}&cursor={body['previous_cursor']}")
        body = body.json()
        backward.append(body)
    assert [b["data"] for b in backward] == [b["data"] for b in forward[-2::-1]]
    assert [b["page"] for b in backward] == [b["page"] for b in forward[-2::-1]]
    assert all(b["pages"] == len(forward) for b in forward)


def test_previous_page_from_a_short_start_fills_a_whole_first_page(
    client: TestClient, seeded: SeededData
) -> None:
    """A previous cursor near the start (rows inserted since, or a crafted one) gives page 1."""
    second = client.get(
        f"{LIST}?limit=5&cursor=" + _forward(client, "limit=2")[1]["previous_cursor"]
    )
    body = second.json()
    assert body["page"] == 1 and body["previous_cursor"] is None
    assert [row["index"] for row in body["data"]] == list(range(5))


def test_count_is_exact_without_filters_and_from_the_stored_aggregates(
    client: TestClient, seeded: SeededData
) -> None:
    body = client.get(f"{LIST}?limit=7").json()
    assert (body["count"], body["count_exact"], body["pages"]) == (seeded.d_sae, True, 6)


def test_count_above_the_cap_is_an_estimate(
    client: TestClient, seeded: SeededData, monkeypatch: pytest.MonkeyPatch
) -> None:
    exact = client.get(f"{LIST}?min_frequency=0.0001").json()
    assert exact["count_exact"] is True
    monkeypatch.setattr(counts, "COUNT_CAP", 5)
    body = client.get(f"{LIST}?min_frequency=0.0001&limit=4").json()
    assert body["count_exact"] is False
    assert body["count"] > 5  # never below what was counted
    assert body["pages"] >= 2 and body["next_cursor"]
    few = client.get(f"{LIST}?q=heart").json()
    assert (few["count"], few["count_exact"]) == (2, True)


def test_a_cursor_for_another_order_is_refused(client: TestClient, seeded: SeededData) -> None:
    cursor = client.get(f"{LIST}?sort=f1&limit=2").json()["next_cursor"]
    response = client.get(f"{LIST}?sort=index&cursor={cursor}")
    assert response.status_code == 422
    assert "start again from the first page" in response.json()["detail"]


def test_frequency_is_documented_as_a_fraction(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    parameters = schema["paths"]["/api/v1/saes/{sae}/features"]["get"]["parameters"]
    (minimum,) = [p for p in parameters if p["name"] == "min_frequency"]
    assert "fraction" in minimum["description"] and "0.01 = 1%" in minimum["description"]
