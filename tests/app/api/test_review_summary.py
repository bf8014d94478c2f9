"""The review summary on the feature page and its JSON, and the feature list's review filter and
order (API and page), from campaigns that are closed or not blinded only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.schemas.review import AdjudicationSpec, Answer
from app.services import review
from app.services.review.adjudication import adjudicate
from db.models import Sae
from tests.support.review import answer_all, campaign, labelled_sae, make_reviewers

FEATURE = "/api/v1/saes/review-sae/features/{}"
PAGE = "/saes/review-sae/features/{}"
LIST = "/api/v1/saes/review-sae/features"


@pytest.fixture
def sae(session: Session) -> Sae:
    return labelled_sae(session)


@pytest.fixture
def users(session: Session) -> dict[int, int]:
    """Accounts by number: reviewers 1..3, and 7 who adjudicates."""
    return make_reviewers(session, 1, 2, 3, 7)


def _rate(
    session: Session, campaign_id: int, ratings: dict[int, list[int]], users: dict[int, int]
) -> None:
    """Reviewers 1, 2, ... give feature i the ratings ratings[i][0], ratings[i][1], ..."""
    for n in range(max(len(r) for r in ratings.values())):
        answers = {i: Answer(rating=r[n]) for i, r in ratings.items() if n < len(r)}
        answer_all(session, campaign_id, users[n + 1], answers)


def test_summary_of_a_closed_unblinded_campaign_is_shown(
    client: TestClient, session: Session, sae: Sae, users: dict[int, int]
) -> None:
    c = campaign(session, sae, [3], blinded=False, reviewers=3)
    _rate(session, c, {3: [2, 4, 5]}, users)
    review.set_status(session, c, "closed")
    adjudicate(
        session, campaign_id=c, feature_index=3, adjudicator_id=users[7],
        spec=AdjudicationSpec(verdict="corrected", corrected_label="rib fracture", note="seen"),
    )  # fmt: skip

    body = client.get(FEATURE.format(3)).json()
    summary = body["review"]
    assert summary["state"] == "reviewed"
    assert summary["mean_rating"] == pytest.approx(11 / 3)
    assert (summary["n_ratings"], summary["n_reviewers"]) == (3, 3)
    assert summary["agreement"] == pytest.approx(2 / 3)  # median 4: 4 and 5 within 1, 2 not
    [verdict] = summary["verdicts"]
    assert (verdict["campaign_id"], verdict["verdict"], verdict["corrected_label"]) == (
        c, "corrected", "rib fracture",
    )  # fmt: skip
    assert "adjudicator_id" not in verdict
    assert body["label"] == "rib fracture"
    [human] = [e for e in body["explanations"] if e["source"] == "human"]
    assert human["is_primary"] and human["provenance"]["adjudicator_id"] == users[7]

    html = client.get(PAGE.format(3)).text
    assert "Radiologist review" in html
    assert "3.67" in html and "rib fracture" in html


def test_summary_of_an_open_blinded_campaign_is_not_shown(
    client: TestClient, session: Session, sae: Sae, users: dict[int, int]
) -> None:
    c = campaign(session, sae, [3], blinded=True, reviewers=2)
    _rate(session, c, {3: [1, 5]}, users)
    adjudicate(
        session, campaign_id=c, feature_index=3, adjudicator_id=users[7],
        spec=AdjudicationSpec(verdict="corrected", corrected_label="rib fracture"),
    )  # fmt: skip

    body = client.get(FEATURE.format(3)).json()
    assert body["review"] == {
        "state": "unreviewed", "mean_rating": None, "n_ratings": 0, "n_reviewers": 0,
        "agreement": None, "verdicts": [],
    }  # fmt: skip
    assert body["label"] == "finding 3"
    assert all(e["source"] != "human" for e in body["explanations"])
    html = client.get(PAGE.format(3)).text
    assert "Radiologist review" not in html and "rib fracture" not in html
    assert client.get(f"{LIST}?review=reviewed").json()["count"] == 0


def _indices(client: TestClient, query: str) -> list[int]:
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 200, response.text
    return [row["index"] for row in response.json()["data"]]


def test_list_filters_and_sorts_by_review_state(
    client: TestClient, session: Session, sae: Sae, users: dict[int, int]
) -> None:
    c = campaign(session, sae, [1, 2, 5, 8], blinded=False, reviewers=2)
    _rate(session, c, {1: [4, 5], 2: [1, 5], 5: [2, 2], 8: [3, 5]}, users)

    assert _indices(client, "review=reviewed") == [1, 2, 5, 8]
    assert _indices(client, "review=disputed") == [2, 8]
    assert _indices(client, "review=unreviewed") == [0, 3, 4, 6, 7, 9, 10, 11]
    assert _indices(client, "sort=-review&limit=5") == [1, 8, 2, 5, 0]  # unreviewed last
    assert _indices(client, "sort=review&review=reviewed") == [5, 2, 8, 1]
    assert _indices(client, "review=disputed&sort=-review&max_f1=0.54") == [2]
    rows = client.get(f"{LIST}?review=disputed").json()["data"]
    assert [(r["review_mean"], r["review_state"]) for r in rows] == [
        (3.0, "disputed"),
        (4.0, "disputed"),
    ]

    # Keyset pages over the mean rating walk every feature once.
    seen, cursor = [], None
    while True:
        page = client.get(f"{LIST}?sort=-review&limit=3" + (f"&cursor={cursor}" if cursor else ""))
        seen += [row["index"] for row in page.json()["data"]]
        if (cursor := page.json()["next_cursor"]) is None:
            break
    assert seen[:4] == [1, 8, 2, 5] and sorted(seen) == list(range(12))

    adjudicate(
        session, campaign_id=c, feature_index=2, adjudicator_id=users[7],
        spec=AdjudicationSpec(verdict="correct"),
    )  # fmt: skip
    assert _indices(client, "review=disputed") == [8]
    assert client.get(f"{LIST}?review=maybe").status_code == 422
    assert client.get(f"{LIST}?sort=rating").status_code == 422


def test_list_page_filters_by_review_state(
    client: TestClient, session: Session, sae: Sae, users: dict[int, int]
) -> None:
    c = campaign(session, sae, [1, 2], blinded=False, reviewers=2)
    _rate(session, c, {1: [4, 5], 2: [1, 5]}, users)

    html = client.get("/saes/review-sae/features?review=disputed&sort=-review").text
    assert re.search(r'<option value="disputed" selected>', html)
    assert re.search(r'<option value="-review" selected>', html)
    assert re.findall(r'href="/saes/review-sae/features/(\d+)" class="label-link"', html) == ["2"]
    assert "disputed</span>" in html
    page = client.get("/saes/review-sae/features?review=nonsense")
    assert page.status_code == 422
