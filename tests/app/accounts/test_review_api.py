"""The review campaign API: who may do what, blinded items, ratings, stats, export and
adjudication, and service errors as 404/409/422."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services import review
from app.services.accounts import UserOut
from db.models import User
from tests.app.accounts.conftest import sign_in
from tests.support.csrf import csrf_headers
from tests.support.review import labelled_sae

SPEC = {
    "name": "Chest findings",
    "sae": "review-sae",
    "selection": {"kind": "explicit", "indices": [1, 2, 3]},
    "label_source": "llm:t",
    "reviewers_per_feature": 2,
    "overlap_size": 0,
    "blinded": True,
    "decoy_share": 0.0,
}


@pytest.fixture
def clients(
    session: Session,
    make_user: Callable[..., UserOut],
    make_client: Callable[..., TestClient],
) -> dict[str, TestClient]:
    """Signed-in clients of an admin, two reviewers and a researcher, plus an anonymous one."""
    labelled_sae(session)
    signed: dict[str, TestClient] = {}
    for name, role in [
        ("ada", "admin"),
        ("rita", "reviewer"),
        ("rolf", "reviewer"),
        ("res", "researcher"),
    ]:
        make_user(name, role)
        signed[name] = make_client()
        sign_in(signed[name], name)
    signed["anon"] = make_client()
    return signed


def _create(admin: TestClient, **changes: object) -> dict:
    response = admin.post("/api/v1/campaigns", json=SPEC | changes, headers=csrf_headers(admin))
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/api/v1/campaigns/{response.json()['id']}"
    return response.json()


def _rate(client: TestClient, campaign_id: int, item_id: int, rating: int, **extra: object):
    return client.post(
        f"/api/v1/campaigns/{campaign_id}/ratings",
        json={"item_id": item_id, "rating": rating, **extra},
        headers=csrf_headers(client),
    )


def test_only_admins_create_campaigns(clients: dict[str, TestClient]) -> None:
    for name, status in [("anon", 401), ("res", 403), ("rita", 403)]:
        client = clients[name]
        response = client.post("/api/v1/campaigns", json=SPEC, headers=csrf_headers(client))
        assert response.status_code == status, name
    created = _create(clients["ada"])
    assert created["n_items"] == 3 and created["sae"] == "review-sae"
    listed = clients["rita"].get("/api/v1/campaigns", params={"sae": "review-sae"}).json()["data"]
    assert [c["id"] for c in listed] == [created["id"]]
    assert clients["rita"].get(f"/api/v1/campaigns/{created['id']}").json()["name"] == (
        "Chest findings"
    )
    # As on the pages, campaigns are for reviewers and admins only.
    for name, status in [("anon", 401), ("res", 403)]:
        assert clients[name].get("/api/v1/campaigns").status_code == status, name
        assert clients[name].get(f"/api/v1/campaigns/{created['id']}").status_code == status


def test_bad_specs_and_ids_are_4xx(clients: dict[str, TestClient]) -> None:
    admin = clients["ada"]
    headers = csrf_headers(admin)
    unknown_sae = admin.post("/api/v1/campaigns", json=SPEC | {"sae": "nope"}, headers=headers)
    assert unknown_sae.status_code == 422
    beyond = SPEC | {"selection": {"kind": "explicit", "indices": [999]}}
    assert admin.post("/api/v1/campaigns", json=beyond, headers=headers).status_code == 422
    no_labels = SPEC | {"label_source": "nobody"}
    assert admin.post("/api/v1/campaigns", json=no_labels, headers=headers).status_code == 422
    assert admin.get("/api/v1/campaigns/424242").status_code == 404
    assert admin.get("/api/v1/campaigns/0").status_code == 422
    assert admin.get(f"/api/v1/campaigns/{2**31}").status_code == 422
    assert admin.get("/api/v1/campaigns", params={"sae": "nope"}).status_code == 404
    assert admin.get("/api/v1/campaigns/424242/next").status_code == 404


def test_blinded_items_hide_source_and_scores(clients: dict[str, TestClient]) -> None:
    campaign_id = _create(clients["ada"])["id"]
    reviewer = clients["rita"]
    assert clients["res"].get(f"/api/v1/campaigns/{campaign_id}/next").status_code == 403
    assert clients["anon"].get(f"/api/v1/campaigns/{campaign_id}/next").status_code == 401
    response = reviewer.get(f"/api/v1/campaigns/{campaign_id}/next")
    assert response.status_code == 200
    item = response.json()
    assert item["label"].startswith("finding ")
    assert not {"label_source", "label_f1", "answer"} & item.keys()
    assert "llm:t" not in response.text and "f1" not in response.text.lower()
    # Another reviewer's answer never shows in this reviewer's item.
    other = clients["rolf"]
    other_item = other.get(f"/api/v1/campaigns/{campaign_id}/next").json()
    assert (
        _rate(other, campaign_id, other_item["item_id"], 5, comment="secret note").status_code
        == 200
    )
    seen = reviewer.get(f"/api/v1/campaigns/{campaign_id}/items/{other_item['item_id']}")
    assert (
        seen.status_code == 200 and "secret note" not in seen.text and "answer" not in seen.json()
    )


def test_unblinded_items_show_source_and_f1(clients: dict[str, TestClient]) -> None:
    campaign_id = _create(clients["ada"], blinded=False)["id"]
    item = clients["rita"].get(f"/api/v1/campaigns/{campaign_id}/next").json()
    assert item["label_source"] == "llm:t"
    assert item["label_f1"] == pytest.approx(0.5 + item["feature_index"] / 100)


def test_reviewer_rates_changes_and_finishes(
    session: Session, clients: dict[str, TestClient]
) -> None:
    campaign_id = _create(clients["ada"])["id"]
    reviewer = clients["rita"]
    rated = []
    while (response := reviewer.get(f"/api/v1/campaigns/{campaign_id}/next")).status_code == 200:
        item = response.json()
        stored = _rate(reviewer, campaign_id, item["item_id"], 4, meaningful="yes")
        assert stored.status_code == 200, stored.text
        assert stored.json()["rating"] == 4
        rated.append(item["item_id"])
    assert response.status_code == 204 and len(rated) == 3
    changed = _rate(reviewer, campaign_id, rated[0], 2, category="device", corrected_label="tube")
    assert changed.status_code == 200
    again = reviewer.get(f"/api/v1/campaigns/{campaign_id}/items/{rated[0]}").json()
    assert again["answer"]["rating"] == 2 and again["answer"]["corrected_label"] == "tube"
    mine = reviewer.get(f"/api/v1/campaigns/{campaign_id}/ratings").json()["data"]
    assert {answer["item_id"]: answer["rating"] for answer in mine} == dict.fromkeys(rated, 4) | {
        rated[0]: 2
    }
    assert _rate(reviewer, campaign_id, rated[0], 6).status_code == 422
    assert _rate(reviewer, campaign_id, rated[0], 3, category="bogus").status_code == 422
    assert _rate(reviewer, campaign_id, 2**40, 3).status_code == 404
    skipped = reviewer.post(
        f"/api/v1/campaigns/{campaign_id}/skips",
        params={"item_id": rated[1]},
        headers=csrf_headers(reviewer),
    )
    assert skipped.status_code == 200 and skipped.json()["skipped"] is True
    progress = reviewer.get(f"/api/v1/campaigns/{campaign_id}/progress").json()
    assert progress["ratings"] == 2
    review.set_status(session, campaign_id, "closed")
    assert _rate(reviewer, campaign_id, rated[0], 3).status_code == 409


def test_stats_export_and_adjudication_are_for_admins(
    session: Session, clients: dict[str, TestClient]
) -> None:
    admin = clients["ada"]
    campaign_id = _create(admin)["id"]
    for name, rating in [("rita", 1), ("rolf", 5)]:
        client = clients[name]
        while (response := client.get(f"/api/v1/campaigns/{campaign_id}/next")).status_code == 200:
            assert _rate(client, campaign_id, response.json()["item_id"], rating).status_code == 200
    base = f"/api/v1/campaigns/{campaign_id}"
    for path in ["/stats", "/export", "/adjudications"]:
        assert clients["rita"].get(base + path).status_code == 403
    stats = admin.get(base + "/stats").json()
    assert stats["n_ratings"] == 6 and len(stats["disputed"]) == 3
    rows = admin.get(base + "/export").json()["data"]
    assert len(rows) == 6 and {row["reviewer"] for row in rows} == {"R1", "R2"}
    exported = admin.get(base + "/export", params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert {row["reviewer"] for row in table} == {"R1", "R2"} and "rita" not in exported.text
    named = admin.get(base + "/export", params={"identify": "true"}).json()["data"]
    ids = session.scalars(select(User.id).where(User.name.in_(["rita", "rolf"]))).all()
    assert {row["reviewer"] for row in named} == {str(user_id) for user_id in ids}
    verdict = {"feature_index": 2, "verdict": "corrected", "corrected_label": "pleural effusion"}
    assert (
        clients["rita"]
        .post(base + "/adjudications", json=verdict, headers=csrf_headers(clients["rita"]))
        .status_code
        == 403
    )
    recorded = admin.post(base + "/adjudications", json=verdict, headers=csrf_headers(admin))
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["corrected_label"] == "pleural effusion"
    assert admin.get(base + "/adjudications").json()["data"][0]["feature_index"] == 2
    not_reviewed = verdict | {"feature_index": 9}
    assert (
        admin.post(
            base + "/adjudications", json=not_reviewed, headers=csrf_headers(admin)
        ).status_code
        == 404
    )
    no_label = {"feature_index": 2, "verdict": "corrected"}
    assert (
        admin.post(base + "/adjudications", json=no_label, headers=csrf_headers(admin)).status_code
        == 422
    )


def test_admin_closes_and_reopens_a_campaign(clients: dict[str, TestClient]) -> None:
    admin, reviewer = clients["ada"], clients["rita"]
    campaign_id = _create(admin)["id"]
    base = f"/api/v1/campaigns/{campaign_id}"
    item = reviewer.get(base + "/next").json()
    assert _rate(reviewer, campaign_id, item["item_id"], 5, corrected_label="effusion").is_success
    for name, status in [("anon", 401), ("res", 403), ("rita", 403)]:
        client = clients[name]
        assert client.post(base + "/close", headers=csrf_headers(client)).status_code == status
    cross_site = admin.post(base + "/close", headers={"Origin": "https://elsewhere.example"})
    assert cross_site.status_code == 403
    feature = f"/api/v1/saes/review-sae/features/{item['feature_index']}"
    assert admin.get(feature).json()["review"]["n_ratings"] == 0  # blinded while open

    closed = admin.post(base + "/close", headers=csrf_headers(admin))
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert admin.get(feature).json()["review"]["n_ratings"] == 1  # the blinding ended
    refused = reviewer.get(base + "/next")
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": f"Campaign {campaign_id} is closed: it takes no more ratings."
    }
    late = _rate(reviewer, campaign_id, item["item_id"], 1)
    assert late.status_code == 409 and "closed" in late.json()["detail"]
    assert admin.post(base + "/close", headers=csrf_headers(admin)).json()["status"] == "closed"
    assert reviewer.get(f"{base}/items/{item['item_id']}").json()["answer"]["rating"] == 5

    reopened = admin.post(base + "/reopen", headers=csrf_headers(admin))
    assert reopened.status_code == 200 and reopened.json()["status"] == "open"
    assert admin.get(feature).json()["review"]["n_ratings"] == 0  # blinded again
    assert reviewer.get(base + "/next").status_code == 200
    assert _rate(reviewer, campaign_id, item["item_id"], 1).status_code == 200
    missing = admin.post("/api/v1/campaigns/424242/close", headers=csrf_headers(admin))
    assert missing.status_code == 404
