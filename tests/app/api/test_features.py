"""GET /api/v1/saes/{sae}/features (filters, orders, cursor pages) and /features/{index}."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import REPORT, SCRIPT_TOKEN, SeededData

LIST = "/api/v1/saes/test-sae/features"


def _all_pages(client: TestClient, query: str, limit: int) -> list[dict]:
    rows, cursor, pages = [], None, 0
    while True:
        url = f"{LIST}?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).json()
        rows += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        assert pages < 100
        if cursor is None:
            return rows


@pytest.mark.parametrize("sort", ["index", "f1", "-f1", "frequency", "-frequency"])
@pytest.mark.parametrize("limit", [1, 3, 7])
def test_cursor_pages_cover_the_list_once(
    client: TestClient, seeded: SeededData, sort: str, limit: int
) -> None:
    whole = client.get(f"{LIST}?sort={sort}&limit=500").json()
    assert whole["next_cursor"] is None
    assert whole["count"] == seeded.d_sae == len(whole["data"])
    paged = _all_pages(client, f"sort={sort}", limit)
    assert [row["index"] for row in paged] == [row["index"] for row in whole["data"]]


def test_orders(client: TestClient, seeded: SeededData) -> None:
    def order(sort: str) -> list[dict]:
        return client.get(f"{LIST}?sort={sort}&limit=500").json()["data"]

    assert [row["index"] for row in order("index")] == list(range(seeded.d_sae))
    by_f1 = order("-f1")
    scored = [row["f1"] for row in by_f1 if row["f1"] is not None]
    assert scored == sorted(seeded.f1.values(), reverse=True)
    assert all(row["f1"] is None for row in by_f1[len(scored) :])  # unscored last
    ascending = [row["f1"] for row in order("f1") if row["f1"] is not None]
    assert ascending == sorted(seeded.f1.values())
    frequencies = [row["frequency"] for row in order("-frequency")]
    assert frequencies == sorted(frequencies, reverse=True)


def test_filters(client: TestClient, seeded: SeededData) -> None:
    body = client.get(f"{LIST}?min_f1=0.5&max_f1=0.8&sort=f1").json()
    expected = sorted(i for i, f1 in seeded.f1.items() if 0.5 <= f1 <= 0.8)
    assert sorted(row["index"] for row in body["data"]) == expected
    assert body["count"] == len(expected)

    body = client.get(f"{LIST}?q=heart").json()
    assert {row["label"] for row in body["data"]} == {
        "heart size and cardiomegaly",
        "normal heart size",
    }
    body = client.get(f'{LIST}?q="heart size" -normal').json()
    assert [row["label"] for row in body["data"]] == ["heart size and cardiomegaly"]

    body = client.get(f"{LIST}?max_frequency=0").json()
    assert sorted(row["index"] for row in body["data"]) == seeded.dead

    body = client.get(f"{LIST}?min_frequency=0.01&sort=-frequency&q=heart").json()
    assert all(row["frequency"] >= 0.01 for row in body["data"])


def test_filtered_pages_round_trip(client: TestClient, seeded: SeededData) -> None:
    whole = client.get(f"{LIST}?min_frequency=0.001&sort=-f1&limit=500").json()["data"]
    paged = _all_pages(client, "min_frequency=0.001&sort=-f1", 4)
    assert [row["index"] for row in paged] == [row["index"] for row in whole]


def test_empty_filter_values_are_ignored(client: TestClient, seeded: SeededData) -> None:
    body = client.get(f"{LIST}?q=&min_f1=&max_f1=&sort=&limit=5").json()
    assert body["count"] == seeded.d_sae
    assert len(body["data"]) == 5


def test_feature_detail(client: TestClient, seeded: SeededData) -> None:
    body = client.get(f"{LIST}/{seeded.rich_feature}").json()
    assert body["index"] == 0
    assert body["label"] == "pleural effusion"
    assert body["f1"] == seeded.f1[0]
    assert body["previous_index"] is None and body["next_index"] == 1
    assert body["dead"] is False
    assert body["histogram"] == {"edges": [0, 1, 2, 3, 4], "counts": [40, 20, 8, 2]}

    primary, other = body["explanations"]
    assert primary["is_primary"] and primary["text"] == "pleural effusion"
    assert [s["f1"] for s in primary["heldout"]] == [seeded.f1[0]]
    assert [s["f1"] for s in primary["train"]] == [pytest.approx(min(1.0, seeded.f1[0] + 0.1))]
    assert not other["is_primary"] and other["source"] == "llm"

    first, second = body["top_examples"]
    assert first["tokens"] == REPORT
    assert len(first["values"]) == len(first["tokens"])
    assert first["max_value"] == 4.5 and first["max_position"] == 6 and first["max_offset"] == 6
    assert first["values"][6] == 4.5 and first["values"][7] == 1.5
    assert second["start"] == 20 and second["tokens"] == REPORT[20:]
    assert second["max_offset"] == 7 and second["values"][7] == 3.0

    (interval,) = body["intervals"]
    assert (interval["bin_min"], interval["bin_max"], interval["share"]) == (0.5, 1.5, 0.25)
    assert [e["max_value"] for e in interval["examples"]] == [1.2, 0.8]
    assert interval["examples"][0]["tokens"] == REPORT[5:8]

    neighbours = body["neighbours"]
    assert [n["index"] for n in neighbours] == [1, 2, 3]
    assert [n["cosine"] for n in neighbours] == [pytest.approx(c) for c in (0.8, 0.7, 0.6)]
    assert neighbours[0]["label"] == seeded.labelled[1]


def test_feature_edges_and_dead(client: TestClient, seeded: SeededData) -> None:
    last = client.get(f"{LIST}/{seeded.d_sae - 1}").json()
    assert last["next_index"] is None and last["previous_index"] == seeded.d_sae - 2
    dead = client.get(f"{LIST}/{seeded.dead[0]}").json()
    assert dead["dead"] is True
    assert dead["label"] is None and dead["explanations"] == []
    assert dead["top_examples"] == [] and dead["intervals"] == []


def test_tokens_come_back_verbatim(client: TestClient, seeded: SeededData) -> None:
    body = client.get(f"{LIST}/{seeded.script_feature}").json()
    (example,) = body["top_examples"]
    assert example["tokens"][2] == SCRIPT_TOKEN
    assert example["values"] == [0, 0.5, 2.0, 0, 0]
