"""GET /api/v1/search: ranked explanation search across SAEs and exact feature references."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.support.factories import SeededData, make_explanation, make_feature, make_sae


def test_search_ranks_and_marks_primary(client: TestClient, seeded: SeededData) -> None:
    body = client.get("/api/v1/search", params={"q": "pleural"}).json()
    assert body["q"] == "pleural" and body["jump"] is None
    hits = {(hit["sae"], hit["index"], hit["text"]): hit for hit in body["data"]}
    assert set(hits) == {
        ("test-sae", 0, "pleural effusion"),
        ("test-sae", 0, "fluid in the pleural space"),
    }
    assert hits[("test-sae", 0, "pleural effusion")]["is_primary"] is True
    assert hits[("test-sae", 0, "fluid in the pleural space")]["is_primary"] is False
    assert body["count"] == body["total"] == 2
    ranks = [hit["rank"] for hit in body["data"]]
    assert ranks == sorted(ranks, reverse=True)


def test_search_spans_saes(client: TestClient, session: Session, seeded: SeededData) -> None:
    other = make_sae(session, "other-sae", d_sae=4)
    feature = make_feature(session, other, 2, label="pleural thickening", f1=0.7)
    make_explanation(session, feature, "pleural thickening", heldout_f1=0.7)
    body = client.get("/api/v1/search", params={"q": "pleural", "limit": 10}).json()
    assert {hit["sae"] for hit in body["data"]} == {"test-sae", "other-sae"}
    limited = client.get("/api/v1/search", params={"q": "pleural", "limit": 1}).json()
    assert (limited["count"], limited["total"]) == (1, 3)


def test_search_stems_and_phrases(client: TestClient, seeded: SeededData) -> None:
    stems = client.get("/api/v1/search", params={"q": "effusions"}).json()
    assert [hit["index"] for hit in stems["data"]] == [0]
    phrase = client.get("/api/v1/search", params={"q": '"heart size" -normal'}).json()
    assert [hit["text"] for hit in phrase["data"]] == ["heart size and cardiomegaly"]


def test_exact_reference_jumps(client: TestClient, seeded: SeededData) -> None:
    body = client.get("/api/v1/search", params={"q": "test-sae/12"}).json()
    assert body["jump"] == {"sae": "test-sae", "index": 12}
    assert client.get("/api/v1/search", params={"q": "test-sae/400"}).json()["jump"] is None
    assert client.get("/api/v1/search", params={"q": "nosuch/1"}).json()["jump"] is None


def test_no_match(client: TestClient, seeded: SeededData) -> None:
    body = client.get("/api/v1/search", params={"q": "zebra"}).json()
    assert body["data"] == [] and body["count"] == 0
