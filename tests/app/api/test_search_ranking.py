"""Search relevance: exact labels first, misspellings found, bounded work, feature references."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.services import search as search_service
from db.labels import refresh_primary_labels
from tests.support.factories import SeededData, make_explanation, make_feature, make_sae

LABELS = [
    "tip of the chest tube projecting over the left costophrenic angle, near an effusion",
    "small left pleural effusion",
    "effusion",
    "pleural effusion or pneumothorax",
]


@pytest.fixture
def effusions(session: Session, seeded: SeededData) -> None:
    sae = make_sae(session, "ranked", d_sae=len(LABELS))
    for index, label in enumerate(LABELS):
        make_explanation(session, make_feature(session, sae, index), label, heldout_f1=0.5)
    refresh_primary_labels(session, sae.id)


def _texts(client: TestClient, q: str) -> list[str]:
    body = client.get("/api/v1/search", params={"q": q, "limit": 50}).json()
    ranks = [hit["rank"] for hit in body["data"]]
    assert ranks == sorted(ranks, reverse=True)
    return [hit["text"] for hit in body["data"]]


def test_the_exact_label_ranks_above_weaker_matches(client: TestClient, effusions: None) -> None:
    texts = _texts(client, "effusion")
    assert texts[0] == "effusion"
    assert texts.index("small left pleural effusion") < texts.index(LABELS[0])
    assert _texts(client, "pleural effusion")[0] == "pleural effusion"
    body = client.get("/api/v1/search", params={"q": "effusion"}).json()
    assert len({hit["rank"] for hit in body["data"]}) == len(body["data"])  # an order, not ties


def test_misspellings_find_the_word(client: TestClient, effusions: None) -> None:
    texts = _texts(client, "efusion")
    assert texts[0] == "effusion"
    assert {"pleural effusion", "small left pleural effusion"} <= set(texts)
    assert "heart size and cardiomegaly" not in texts
    page = client.get("/search", params={"q": "efusion"})
    assert page.status_code == 200 and "small left pleural effusion" in page.text


def test_phrases_and_exclusions_stay_exact(client: TestClient, effusions: None) -> None:
    assert _texts(client, '"pleural effusion" -pneumothorax') == [
        "pleural effusion",
        "small left pleural effusion",
    ]


def test_ranking_reads_a_bounded_number_of_candidates(
    client: TestClient, effusions: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    exact = client.get("/api/v1/search", params={"q": "effusion"}).json()
    assert exact["total_exact"] is True and exact["total"] == len(exact["data"])
    monkeypatch.setattr(search_service, "CANDIDATES", 1)
    body = client.get("/api/v1/search", params={"q": "effusion"}).json()
    assert body["total_exact"] is False and body["total"] >= body["count"]
    assert body["count"] <= 3  # one candidate from each of the three lookups at most
    assert "About " in client.get("/search", params={"q": "effusion"}).text


def test_without_pg_trgm_full_text_still_ranks(
    client: TestClient, effusions: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_service, "has_trigrams", lambda session: False)
    texts = _texts(client, "effusion")
    assert texts[0] == "effusion" and len(texts) == 5  # shortest label first, no fuzzy hits
    assert _texts(client, "efusion") == []


def test_a_missing_feature_is_named(client: TestClient, seeded: SeededData) -> None:
    body = client.get("/api/v1/search", params={"q": "test-sae/9999"}).json()
    assert body["jump"] is None and body["data"] == []
    assert body["notice"] == (
        "There is no feature 9,999 in SAE test-sae (it has 40 features, 0 to 39)."
    )
    page = client.get("/search", params={"q": "test-sae/9999"})
    assert page.status_code == 200
    assert "There is no feature 9,999 in SAE test-sae (it has 40 features, 0 to 39)." in page.text
    assert "labels match" not in page.text


def test_a_feature_without_stored_data_is_named(client: TestClient, session: Session) -> None:
    make_sae(session, "sparse", d_sae=10)
    body = client.get("/api/v1/search", params={"q": "sparse/3"}).json()
    assert body["notice"] == "Feature 3 of SAE sparse has no stored data."
