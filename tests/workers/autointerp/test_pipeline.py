"""A whole autointerp run against the stand-in LLM over HTTP, stored in PostgreSQL."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.services.accounts import add_user
from db.models import (
    AutointerpRun,
    AutointerpRunFeature,
    AutointerpVerdict,
    Explanation,
    Feature,
    Score,
)
from db.settings import Settings
from tests.app.accounts.conftest import PASSWORD
from tests.support.autointerp import KEYWORDS, standin_server, standin_stats
from tests.support.csrf import form_token
from tests.workers.autointerp.conftest import keyword_sae
from workers.autointerp.config import AutointerpConfig
from workers.autointerp.job import run_batches
from workers.autointerp.runs import batches, create_run, run_progress, select_features

SETTINGS = Settings(llm_concurrency=16)


def _run(
    sessions: sessionmaker[Session], base_url: str, model: str = "stand-in", **config: object
) -> AutointerpRun:
    with sessions() as session:
        sae = keyword_sae(session)
        run = create_run(
            session,
            sae,
            AutointerpConfig(explainer=model, scorer=model, base_url=base_url, **config),
            select_features(session, sae),
            queue=False,
        )
        work = batches(run, sae.slug, batch_size=4)
    run_batches(sessions, work, SETTINGS)
    with sessions() as session:
        return session.get_one(AutointerpRun, run.id)


def _scores(session: Session, run: AutointerpRun, kind: str, split: str = "heldout") -> list[Score]:
    return list(
        session.scalars(
            select(Score)
            .join(Explanation)
            .where(
                Explanation.source_key == f"llm:run:{run.id}",
                Score.kind == kind,
                Score.split == split,
            )
        )
    )


def test_a_run_labels_every_feature_with_stored_scores_and_verdicts(standin, keyword_db) -> None:
    _, sessions = keyword_db
    run = _run(sessions, standin)
    with sessions() as session:
        assert run.status == "done"
        progress = run_progress(session, run)
        assert (progress["n_done"], progress["n_failed"]) == (len(KEYWORDS), 0)
        assert progress["prompt_tokens"] > 0 and progress["n_failed_calls"] == 0
        explanations = session.scalars(
            select(Explanation).where(Explanation.source_key == f"llm:run:{run.id}")
        ).all()
        assert len(explanations) == len(KEYWORDS)
        for explanation in explanations:
            feature = session.get_one(Feature, explanation.feature_id)
            assert explanation.source == "llm" and "stand-in" in explanation.model_name
            assert KEYWORDS[feature.index] in explanation.text
            assert explanation.provenance["prompt_version"]
            assert explanation.provenance["explanation_example_ids"]
            # the stand-in's label becomes the primary label, with its held-out F1
            assert feature.label == explanation.text and feature.f1 is not None
        detection = _scores(session, run, "detection")
        assert len(detection) == len(KEYWORDS)
        assert min(s.f1 for s in detection) > 0.9
        assert all(s.auc is not None and s.details["metrics"]["f1"]["low"] for s in detection)
        assert len(_scores(session, run, "fuzzing")) == len(KEYWORDS)
        assert len(_scores(session, run, "detection", "train")) == len(KEYWORDS)
        verdicts = session.scalar(
            select(func.count())
            .select_from(AutointerpVerdict)
            .where(AutointerpVerdict.score_id.in_([s.id for s in detection]))
        )
        assert verdicts == sum(s.details["n_total"] for s in detection)


def test_no_scoring_example_shares_a_document_with_an_explanation_example(
    standin, keyword_db
) -> None:
    _, sessions = keyword_db
    run = _run(sessions, standin)
    with sessions() as session:
        explained = set()
        for explanation in session.scalars(
            select(Explanation).where(Explanation.source_key == f"llm:run:{run.id}")
        ):
            explained |= set(explanation.provenance["explanation_document_ids"])
        scored = set(
            session.scalars(
                select(AutointerpVerdict.document_id)
                .join(Score, Score.id == AutointerpVerdict.score_id)
                .join(Explanation)
                .where(Explanation.source_key == f"llm:run:{run.id}", Score.split == "heldout")
            )
        )
    assert explained and scored
    assert not explained & scored


def test_the_borrowed_label_control_scores_near_chance(standin, keyword_db) -> None:
    _, sessions = keyword_db
    run = _run(sessions, standin)
    with sessions() as session:
        controls = _scores(session, run, "detection_control")
        real = _scores(session, run, "detection")
    assert len(controls) == len(KEYWORDS)
    assert all(c.details["borrowed_from"] is not None for c in controls)
    mean = sum(c.balanced_accuracy for c in controls) / len(controls)
    assert 0.4 <= mean <= 0.6
    assert sum(r.balanced_accuracy for r in real) / len(real) > 0.9


def test_a_rate_limit_backs_off_and_succeeds(keyword_db) -> None:
    _, sessions = keyword_db
    with standin_server() as fresh:
        run = _run(sessions, fresh, model="stand-in:fail-429-once")
        stats = standin_stats(fresh)
    with sessions() as session:
        progress = run_progress(session, run)
    assert progress["n_done"] == len(KEYWORDS)
    assert progress["n_failed_calls"] == 0
    # every prompt was refused once (429), then answered once after the back-off
    assert set(stats["calls_by_prompt"].values()) == {2}
    assert set(stats["answered_by_prompt"].values()) == {1}


def test_unparseable_answers_are_counted_as_such(standin, keyword_db) -> None:
    _, sessions = keyword_db
    with sessions() as session:
        sae = keyword_sae(session)
        config = AutointerpConfig(
            explainer="stand-in", scorer="stand-in:fail-garbage", base_url=standin
        )
        run = create_run(session, sae, config, [0, 1], queue=False)
        work = batches(run, sae.slug)
    run_batches(sessions, work, SETTINGS)
    with sessions() as session:
        (score, *_) = _scores(session, run, "detection")
        statuses = set(
            session.scalars(
                select(AutointerpVerdict.status).where(AutointerpVerdict.score_id == score.id)
            )
        )
    assert statuses == {"unparseable"}
    assert score.n == 0 and score.f1 is None
    assert score.details["n_unparseable"] == score.details["n_total"] > 0


def test_failed_calls_are_counted_as_such(standin, keyword_db) -> None:
    _, sessions = keyword_db
    with sessions() as session:
        sae = keyword_sae(session)
        config = AutointerpConfig(
            explainer="stand-in", scorer="stand-in:fail-500", base_url=standin
        )
        run = create_run(session, sae, config, [0, 1], queue=False)
        work = batches(run, sae.slug)
    run_batches(sessions, work, Settings(llm_concurrency=16, llm_backoff_s=0.01))
    with sessions() as session:
        (score, *_) = _scores(session, run, "detection")
        run = session.get_one(AutointerpRun, run.id)
    assert score.n == 0 and score.details["n_failed"] == score.details["n_total"] > 0
    assert run.n_failed_calls > 0


def test_a_failed_explanation_fails_the_feature_with_its_reason(standin, keyword_db) -> None:
    _, sessions = keyword_db
    with sessions() as session:
        sae = keyword_sae(session)
        config = AutointerpConfig(
            explainer="stand-in:fail-garbage", scorer="stand-in", base_url=standin
        )
        run = create_run(session, sae, config, [3], queue=False)
        work = batches(run, sae.slug)
    run_batches(sessions, work, SETTINGS)
    with sessions() as session:
        row = session.scalars(
            select(AutointerpRunFeature).where(AutointerpRunFeature.run_id == run.id)
        ).one()
    assert row.status == "failed" and "could not be parsed" in row.error


def test_the_token_budget_stops_paid_calls(standin, keyword_db) -> None:
    _, sessions = keyword_db
    before = standin_stats(standin)["answered"]
    run = _run(sessions, standin, token_budget=1)
    answered = standin_stats(standin)["answered"] - before
    assert run.n_failed_calls > 0
    assert answered <= 16  # at most the calls already in flight when the budget ran out


def test_the_feature_page_links_to_every_verdict(standin, keyword_db, make_app_client) -> None:
    url, sessions = keyword_db
    run = _run(sessions, standin)
    with sessions() as session:
        explanation = session.scalars(
            select(Explanation).where(Explanation.source_key == f"llm:run:{run.id}")
        ).first()
        feature = session.get_one(Feature, explanation.feature_id)
    client = make_app_client(url)
    page = client.get(f"/saes/kw/features/{feature.index}")
    link = f"/autointerp/explanations/{explanation.id}"
    assert link in page.text
    detail = client.get(f"/api/v1{link}").json()
    kinds = {(s["kind"], s["split"]) for s in detail["scores"]}
    assert kinds == {
        ("detection", "heldout"),
        ("fuzzing", "heldout"),
        ("detection_control", "heldout"),
        ("detection", "train"),
    }
    control = next(s for s in detail["scores"] if s["kind"] == "detection_control")
    assert control["borrowed_label"] and control["borrowed_from"] != feature.index
    heldout = next(
        s for s in detail["scores"] if s["kind"] == "detection" and s["split"] == "heldout"
    )
    assert (
        len(heldout["verdicts"]) == heldout["n_total"]
        and heldout["metrics"]["f1"]["low"] is not None
    )
    html = client.get(link)
    assert html.status_code == 200 and "Per-example verdicts" in html.text
    assert heldout["verdicts"][0]["shown"] in html.text
    assert client.get("/api/v1/autointerp/explanations/999999").status_code == 404


def test_a_run_exports_its_settings_and_results(standin, keyword_db, make_app_client) -> None:
    url, sessions = keyword_db
    run = _run(sessions, standin)
    client = make_app_client(url)
    exported = client.get(f"/api/v1/autointerp/runs/{run.id}/export?limit=5").json()
    assert exported["run"]["config"]["scorer"] == "stand-in"
    assert [f["index"] for f in exported["features"]] == [0, 1, 2, 3, 4]
    first = exported["features"][0]["explanation"]
    assert KEYWORDS[0] in first["text"] and first["provenance"]["seed"] == 0
    assert {s["kind"] for s in first["scores"]} >= {"detection", "fuzzing", "detection_control"}
    rest = client.get(f"/api/v1/autointerp/runs/{run.id}/export?offset=10").json()
    assert [f["index"] for f in rest["features"]] == [10, 11]
    assert client.get(f"/api/v1/autointerp/runs/{run.id}/export?limit=0").status_code == 422


def test_rescoring_with_another_scorer_is_one_click_and_pays_no_explanation(
    standin, keyword_db, make_app_client
) -> None:
    url, sessions = keyword_db
    run = _run(sessions, standin)
    with sessions() as session:
        explanation = session.scalars(
            select(Explanation).where(Explanation.source_key == f"llm:run:{run.id}")
        ).first()
        index = session.get_one(Feature, explanation.feature_id).index
        add_user(session, name="rita", role="researcher", password=PASSWORD)
    client = make_app_client(url)
    link = f"/autointerp/explanations/{explanation.id}"
    assert "Explain and score again" not in client.get(link).text  # anonymous: no button
    signed_in = client.post(
        "/login",
        data={"name": "rita", "password": PASSWORD, "csrf_token": form_token(client)},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert "Explain and score again" in client.get(link).text
    form = {"sae": "kw", "feature": str(index), "explainer": "stand-in", "scorer": "stand-in:b"}
    form["csrf_token"] = form_token(client)
    started = client.post("/autointerp", data=form, follow_redirects=False)
    assert started.status_code == 303
    run_id = started.headers["location"].rsplit("/", 1)[1]
    with sessions() as session:
        again = session.get_one(AutointerpRun, uuid.UUID(run_id))
        assert again.feature_indices == [index]
        work = batches(again, "kw")
    run_batches(sessions, work, SETTINGS)
    with sessions() as session:
        again = session.get_one(AutointerpRun, again.id)
        relabel = session.scalars(
            select(Explanation).where(Explanation.source_key == f"llm:run:{again.id}")
        ).one()
    assert relabel.text == explanation.text and relabel.provenance["scorer"] == "stand-in:b"
    assert again.n_cached >= 1  # the explanation came from the cache
