"""The feature list page: frequencies in percent, previous and next links, the count of pages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.services import counts
from tests.support.factories import SeededData

PAGE = "/saes/test-sae/features"


def _link(html: str, rel: str) -> str | None:
    match = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return match.group(1).replace("&amp;", "&") if match else None


def test_frequency_filter_takes_percent_like_the_column(
    client: TestClient, seeded: SeededData
) -> None:
    response = client.get(f"{PAGE}?min_frequency_pct=1&sort=frequency&limit=500")
    assert response.status_code == 200
    api = client.get(f"/api/v1{PAGE}?min_frequency=0.01&sort=frequency&limit=500").json()
    shown = re.findall(r'href="/saes/test-sae/features/(\d+)">#', response.text)
    assert [int(i) for i in shown] == [row["index"] for row in api["data"]]
    assert api["data"] and all(row["frequency"] >= 0.01 for row in api["data"])
    assert "Frequency (% of tokens)" in response.text
    assert 'name="min_frequency_pct"' in response.text and 'value="1"' in response.text
    # The JSON twin states the same filter as the API takes it: a fraction.
    assert "min_frequency=0.01" in response.headers["link"]


def test_percent_out_of_range_is_explained_in_percent(
    client: TestClient, seeded: SeededData
) -> None:
    response = client.get(f"{PAGE}?max_frequency_pct=150")
    assert response.status_code == 422
    assert "max_frequency_pct: Input should be less than or equal to 100" in response.text


def test_previous_link_returns_to_the_page_before(client: TestClient, seeded: SeededData) -> None:
    first = client.get(f"{PAGE}?sort=-f1&limit=15").text
    assert _link(first, "prev") is None
    assert "page 1 of 3" in first
    second = client.get(_link(first, "next")).text
    assert "page 2 of 3" in second
    back = client.get(_link(second, "prev")).text
    rows = re.compile(r'href="/saes/test-sae/features/(\d+)">#')
    assert rows.findall(back) == rows.findall(first)
    assert "page 1 of 3" in back and _link(back, "prev") is None
    assert "sort=-f1" in _link(second, "prev") and "limit=15" in _link(second, "prev")


def test_an_estimated_count_says_about(
    client: TestClient, seeded: SeededData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(counts, "COUNT_CAP", 3)
    html = client.get(f"{PAGE}?min_f1=0&limit=2").text
    assert re.search(r"About <strong>[\d,]+</strong> features match · page 1 of about", html)
    exact = client.get(f"{PAGE}?limit=50").text
    assert f"<strong>{seeded.d_sae}</strong> features match." in exact
