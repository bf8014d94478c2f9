"""The review pages: campaigns list and create form, a campaign's progress, agreement and
adjudication, and the reviewer's queue (rate, skip, go back) working as plain forms."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.schemas.review import Answer
from app.services import review
from app.services.accounts import UserOut
from db.models import Feature, User
from tests.app.accounts.conftest import sign_in
from tests.support.csrf import form_token
from tests.support.factories import make_corpus, make_document, make_example
from tests.support.review import campaign, labelled_sae, make_reviewers


@pytest.fixture
def clients(
    session: Session,
    make_user: Callable[..., UserOut],
    make_client: Callable[..., TestClient],
) -> dict[str, TestClient]:
    """Signed-in clients of an admin, a reviewer and a researcher, plus an anonymous one."""
    signed: dict[str, TestClient] = {}
    for name, role in [("ada", "admin"), ("rita", "reviewer"), ("res", "researcher")]:
        make_user(name, role)
        signed[name] = make_client()
        sign_in(signed[name], name)
    signed["anon"] = make_client()
    return signed


@pytest.fixture
def blinded_id(session: Session) -> int:
    """A blinded campaign over features 1..5 (one reviewer each), each with a top example."""
    sae = labelled_sae(session)
    document = make_document(
        session, make_corpus(session), "demo-1", ["Small", " left", " pleural", " effusion"]
    )
    for feature in session.scalars(select(Feature).where(Feature.sae_id == sae.id)):
        make_example(session, feature, document, start=0, values=[0, 0, 2.5, 1.0])
    session.flush()
    return campaign(session, sae, [1, 2, 3, 4, 5], blinded=True, reviewers=1)


def _rate(client: TestClient, campaign_id: int, item_id: int, **fields: str):
    data = {"campaign": str(campaign_id), "item": str(item_id), "csrf_token": form_token(client)}
    return client.post("/review", data=data | fields)


def _item_id(page: str) -> int:
    found = re.search(r'name="item" value="(\d+)"', page)
    assert found is not None, page
    return int(found.group(1))


def _nav_items(client: TestClient) -> list[str]:
    """The texts of the site navigation's links and buttons on the home page, in order."""
    page = client.get("/")
    assert page.status_code == 200, page.text
    nav = re.search(r'<nav class="site-nav".*?</nav>', page.text, re.S)
    assert nav is not None
    return re.findall(r">([^<>]+)</(?:a|button)>", nav.group(0))


def test_nav_shows_review_and_campaigns_to_those_who_may_open_them(
    clients: dict[str, TestClient], blinded_id: int
) -> None:
    links = {name: _nav_items(client) for name, client in clients.items()}
    common = ["SAEs", "Encode", "Steer"]
    assert links["anon"] == [*common, "API", "Sign in"]
    assert links["res"] == [*common, "API", "res", "Sign out"]
    assert links["rita"] == [*common, "Review", "Campaigns", "API", "rita", "Sign out"]
    assert links["ada"] == [*common, "Review", "Campaigns", "API", "ada", "Sign out"]
    for name, path in [("rita", "/review"), ("ada", "/campaigns")]:
        assert clients[name].get(path).status_code == 200
    assert clients["res"].get("/campaigns").status_code == 403
    current = clients["rita"].get("/review").text
    assert '<a href="/review" aria-current="page">Review</a>' in current


def test_queue_is_for_reviewers(clients: dict[str, TestClient], blinded_id: int) -> None:
    assert clients["anon"].get("/review").status_code == 303
    assert clients["res"].get("/review").status_code == 403
    page = clients["rita"].get("/review")
    assert page.status_code == 200 and f"/review?campaign={blinded_id}" in page.text
    assert clients["rita"].get("/review", params={"campaign": 424242}).status_code == 404
    assert clients["rita"].get("/review", params={"campaign": 0}).status_code == 422


def test_blinded_item_page_shows_examples_label_and_keys_only(
    clients: dict[str, TestClient], blinded_id: int
) -> None:
    page = clients["rita"].get("/review", params={"campaign": blinded_id})
    assert page.status_code == 200
    text = page.text
    assert re.search(r"finding \d", text)
    assert 'class="tok' in text and "pleural" in text  # highlighted examples
    assert "/static/review.js" in text and "<kbd>1</kbd>" in text and "<kbd>s</kbd>" in text
    assert (
        f'rel="alternate" type="application/json" href="/api/v1/campaigns/{blinded_id}/next"'
        in text
    )
    assert "llm:t" not in text and "F1" not in text
    # Nothing leads to the feature's own pages, where its label's source and scores show.
    assert "/features/" not in text and "Feature " not in text
    assert len(re.findall(r'name="rating" value="\d"', text)) == 5
    assert len(re.findall(r'<option value="[a-z_]+"', text)) == 7


def test_reviewer_rates_goes_back_changes_and_finishes(
    session: Session, clients: dict[str, TestClient], blinded_id: int
) -> None:
    reviewer = clients["rita"]
    first = reviewer.get("/review", params={"campaign": blinded_id}).text
    assert "0 answered, 5 remaining" in first and "previous" not in first
    missing = _rate(reviewer, blinded_id, _item_id(first))
    assert missing.status_code == 422 and "rating" in missing.text
    rated = []
    page = first
    for rating in "12345":
        item_id = _item_id(page)
        saved = _rate(reviewer, blinded_id, item_id, rating=rating, meaningful="yes", action="rate")
        assert saved.status_code == 303 and saved.headers["location"].endswith(
            f"/review?campaign={blinded_id}"
        )
        rated.append(item_id)
        page = reviewer.get(saved.headers["location"]).text
    assert "Nothing left for you" in page and "5 answered" in page
    previous = re.search(r'id="review-previous" href="([^"]+)"', page)
    assert previous is not None
    back = reviewer.get(previous.group(1).replace("&amp;", "&")).text
    back_id = _item_id(back)
    assert back_id in rated
    old = str(rated.index(back_id) + 1)
    assert f'value="{old}" data-key="{old}" required checked' in back
    changed = _rate(reviewer, blinded_id, back_id, rating="1", category="device", action="rate")
    assert changed.status_code == 303
    stored = review.answers(session, campaign_id=blinded_id, reviewer_id=_user_id(session, "rita"))
    assert {a.item_id: a.rating for a in stored}[back_id] == 1


def test_fragment_route_stores_and_answers_the_next_item_in_one_round_trip(
    clients: dict[str, TestClient], blinded_id: int
) -> None:
    reviewer = clients["rita"]
    first = _item_id(reviewer.get("/review", params={"campaign": blinded_id}).text)
    token = form_token(reviewer)
    fields = {"campaign": str(blinded_id), "item": str(first), "csrf_token": token}
    invalid = reviewer.post("/review/next", data=fields | {"action": "rate"})
    assert invalid.status_code == 422 and "form-errors" in invalid.text
    assert _item_id(invalid.text) == first and "<html" not in invalid.text
    saved = reviewer.post("/review/next", data=fields | {"rating": "4", "action": "rate"})
    assert saved.status_code == 200 and "<html" not in saved.text
    assert "1 answered, 4 remaining" in saved.text and 'class="tok' in saved.text
    second = _item_id(saved.text)
    assert second != first and 'id="review-previous"' in saved.text
    skipped = reviewer.post("/review/next", data=fields | {"item": str(second), "action": "skip"})
    assert skipped.status_code == 200 and "2 answered, 3 remaining" in skipped.text
    assert _item_id(skipped.text) not in (first, second)
    researcher = fields | {"csrf_token": form_token(clients["res"])}
    assert clients["res"].post("/review/next", data=researcher).status_code == 403


def test_progress_counts_every_answer_past_the_first_hundred(
    session: Session, clients: dict[str, TestClient]
) -> None:
    sae = labelled_sae(session, n=105)
    campaign_id = campaign(session, sae, list(range(105)), blinded=True, reviewers=1)
    rita = _user_id(session, "rita")
    for _ in range(101):
        item = review.next_item(session, campaign_id=campaign_id, reviewer_id=rita)
        assert item is not None
        review.rate(
            session, campaign_id=campaign_id, item_id=item.item_id, reviewer_id=rita,
            answer=Answer(rating=3),
        )  # fmt: skip
    page = clients["rita"].get("/review", params={"campaign": campaign_id}).text
    assert "101 answered, 4 remaining" in page
    assert '<progress max="105" value="101"' in page


def _user_id(session: Session, name: str) -> int:
    return session.scalars(select(User.id).where(User.name == name)).one()


def test_skip_passes_an_item(clients: dict[str, TestClient], blinded_id: int) -> None:
    reviewer = clients["rita"]
    page = reviewer.get("/review", params={"campaign": blinded_id}).text
    skipped = _rate(reviewer, blinded_id, _item_id(page), action="skip")
    assert skipped.status_code == 303
    assert "1 answered, 4 remaining" in reviewer.get(skipped.headers["location"]).text


def test_admin_creates_a_campaign_from_the_form(
    session: Session, clients: dict[str, TestClient]
) -> None:
    labelled_sae(session)
    admin = clients["ada"]
    assert 'action="/campaigns"' in admin.get("/campaigns").text
    assert 'action="/campaigns"' not in clients["rita"].get("/campaigns").text
    form = {
        "name": "Pilot",
        "sae": "review-sae",
        "selection_kind": "explicit",
        "indices": "1, 2 3",
        "label_source": "llm:t",
        "reviewers_per_feature": "2",
        "overlap_size": "0",
        "blinded": "on",
        "decoy_share": "0",
    }
    denied = clients["rita"].post(
        "/campaigns", data=form | {"csrf_token": form_token(clients["rita"])}
    )
    assert denied.status_code == 403
    bad = admin.post("/campaigns", data=form | {"indices": "999", "csrf_token": form_token(admin)})
    assert bad.status_code == 422 and "form-errors" in bad.text
    created = admin.post("/campaigns", data=form | {"csrf_token": form_token(admin)})
    assert created.status_code == 303
    page = admin.get(created.headers["location"])
    assert page.status_code == 200 and "Pilot" in page.text and "3 features" in page.text
    summary = review.list_campaigns(session)[0]
    assert summary.blinded and summary.selection["indices"] == [1, 2, 3]


def test_campaign_page_shows_progress_agreement_and_takes_verdicts(
    session: Session, clients: dict[str, TestClient]
) -> None:
    sae = labelled_sae(session)
    campaign_id = campaign(session, sae, [1, 2, 3], blinded=True, reviewers=2)
    reviewers = make_reviewers(session, 1, 2)
    for reviewer, rating in [(reviewers[1], 1), (reviewers[2], 5)]:
        while item := review.next_item(session, campaign_id=campaign_id, reviewer_id=reviewer):
            review.rate(
                session,
                campaign_id=campaign_id,
                item_id=item.item_id,
                reviewer_id=reviewer,
                answer=Answer(rating=rating),
            )
    admin = clients["ada"]
    page = admin.get(f"/campaigns/{campaign_id}").text
    assert "6 ratings" in page and "Krippendorff" in page and "Record verdict" in page
    assert f"/api/v1/campaigns/{campaign_id}/export?format=csv" in page
    chart = re.search(r'<svg[^>]*aria-describedby="rating-f1-chart-summary".*?</svg>', page, re.S)
    assert chart is not None
    assert '<title id="rating-f1-chart-desc">Mean reviewer rating' in chart.group(0)
    assert '<desc id="rating-f1-chart-summary">Spearman&#39;s rho' in chart.group(0)
    dots = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="4"><title>([^<]+)</title>', page)
    twin = admin.get(f"/api/v1/campaigns/{campaign_id}/stats").json()["rating_vs_f1_points"]
    assert [(p["feature_index"], p["mean_rating"], p["n_ratings"]) for p in twin] == [
        (1, 3.0, 2), (2, 3.0, 2), (3, 3.0, 2)
    ]  # fmt: skip
    assert [title for _, _, title in dots] == [
        f"Feature {p['feature_index']}: mean rating 3.00 (2 ratings), F1 {p['f1']:.2f}"
        for p in twin
    ]
    assert len({x for x, _, _ in dots}) == 1 and len({y for _, y, _ in dots}) == 3
    assert f'href="/api/v1/campaigns/{campaign_id}/stats"' in page
    reviewer_view = clients["rita"].get(f"/campaigns/{campaign_id}").text
    assert "6 ratings" in reviewer_view and "Krippendorff" not in reviewer_view
    assert "<circle" not in reviewer_view
    verdict = {
        "feature_index": "2",
        "verdict": "corrected",
        "corrected_label": "pleural effusion",
        "csrf_token": form_token(admin),
    }
    recorded = admin.post(f"/campaigns/{campaign_id}/adjudications", data=verdict)
    assert recorded.status_code == 303
    assert review.list_adjudications(session, campaign_id)[0].corrected_label == (
        "pleural effusion"
    )
    no_label = verdict | {"corrected_label": ""}
    assert admin.post(f"/campaigns/{campaign_id}/adjudications", data=no_label).status_code == 422
    denied = clients["rita"].post(
        f"/campaigns/{campaign_id}/adjudications",
        data=verdict | {"csrf_token": form_token(clients["rita"])},
    )
    assert denied.status_code == 403


def test_admin_closes_and_reopens_from_the_campaign_page_and_reviewers_are_told(
    session: Session, clients: dict[str, TestClient], blinded_id: int
) -> None:
    admin, reviewer = clients["ada"], clients["rita"]
    page = reviewer.get("/review", params={"campaign": blinded_id}).text
    item_id = _item_id(page)
    action = f'action="/campaigns/{blinded_id}/status"'
    assert action not in reviewer.get(f"/campaigns/{blinded_id}").text
    campaign_page = admin.get(f"/campaigns/{blinded_id}").text
    assert action in campaign_page and 'id="campaign-close"' in campaign_page
    assert 'name="csrf_token"' in campaign_page
    close = {"status": "closed"}
    assert admin.post(f"/campaigns/{blinded_id}/status", data=close).status_code == 403
    denied = reviewer.post(
        f"/campaigns/{blinded_id}/status", data=close | {"csrf_token": form_token(reviewer)}
    )
    assert denied.status_code == 403
    bogus = admin.post(
        f"/campaigns/{blinded_id}/status", data={"status": "x", "csrf_token": form_token(admin)}
    )
    assert bogus.status_code == 422

    closed = admin.post(
        f"/campaigns/{blinded_id}/status", data=close | {"csrf_token": form_token(admin)}
    )
    assert closed.status_code == 303 and closed.headers["location"] == f"/campaigns/{blinded_id}"
    campaign_page = admin.get(closed.headers["location"]).text
    assert 'id="campaign-reopen"' in campaign_page and "It takes no more ratings" in campaign_page
    queue = reviewer.get("/review", params={"campaign": blinded_id}).text
    assert 'id="review-closed"' in queue and 'id="review-form"' not in queue
    late = _rate(reviewer, blinded_id, item_id, rating="4", action="rate")
    assert late.status_code == 409 and "This campaign is closed" in late.text
    assert (
        review.answers(session, campaign_id=blinded_id, reviewer_id=_user_id(session, "rita")) == []
    )

    reopen = {"status": "open", "csrf_token": form_token(admin)}
    assert admin.post(f"/campaigns/{blinded_id}/status", data=reopen).status_code == 303
    assert 'id="review-form"' in reviewer.get("/review", params={"campaign": blinded_id}).text
    assert _rate(reviewer, blinded_id, item_id, rating="4", action="rate").status_code == 303
