"""synthetic: distributions, example integrity, real report tokens, replacing a dataset."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.cli import main
from db.importers import ImporterError
from db.importers.synthetic import (
    WINDOW_SAMPLE,
    WINDOW_TOKENS,
    SyntheticOptions,
    build_synthetic,
)
from db.importers.synthetic_data import detection_scores, feature_stats, random_neighbours
from db.importers.synthetic_text import normalise_text, tokenize
from db.models import Corpus, Document, Example, Explanation, Feature, Sae, Score, WindowSample
from db.settings import get_settings
from tests.db.importers.helpers import add_sae


def test_heldout_f1_shares_match_the_paper_and_metrics_are_consistent() -> None:
    train, heldout = detection_scores(np.random.default_rng(0), 200_000)
    assert abs((heldout.f1 > 0.75).mean() - 0.018) < 0.003
    assert abs((heldout.f1 < 0.5).mean() - 0.46) < 0.01
    assert train.f1.mean() > heldout.f1.mean()
    for scores in (train, heldout):
        p, r = scores.precision, scores.recall
        np.testing.assert_allclose(2 * p * r / (p + r), scores.f1, rtol=1e-9)
        assert ((p >= 0) & (p <= 1) & (r >= 0) & (r <= 1)).all()
        fpr = r * (1 - p) / p
        assert ((fpr >= 0) & (fpr <= 1)).all()
        np.testing.assert_allclose(scores.accuracy, (r + 1 - fpr) / 2)


def test_frequencies_are_heavy_tailed_with_a_few_dead_features() -> None:
    stats = feature_stats(np.random.default_rng(0), 32_768, 2_000_000, min_active=84, k=256)
    live = stats.frequency[stats.live]
    assert 0.02 < (~stats.live).mean() < 0.04
    assert (stats.frequency[~stats.live] == 0).all()
    assert np.quantile(live, 0.99) / np.median(live) > 20
    top_share = np.sort(stats.n_active)[-len(live) // 100 :].sum() / stats.n_active.sum()
    assert top_share > 0.1
    assert (stats.histogram_counts.sum(axis=1) == stats.n_active).all()


def test_neighbours_are_distinct_other_features_in_descending_cosine() -> None:
    indices, cosines = random_neighbours(np.random.default_rng(0), 300, 16)
    assert indices.shape == (300, 16)
    assert all(len(set(row)) == 16 for row in indices.tolist())
    assert not (indices == np.arange(300)[:, None]).any()
    assert (np.diff(cosines, axis=1) <= 0).all()


def test_tokenizer_keeps_leading_spaces_and_round_trips() -> None:
    sample = "No  pleural effusion.\nHeart size is 1.5 cm, patient's  XXXX-XXXX."
    tokens = tokenize(sample)
    assert tokens[:4] == ["No", " pleural", " effusion", "."]
    assert " patient's" in tokens and " 1.5" in tokens
    assert "".join(tokens) == normalise_text(sample)


@pytest.fixture
def small(session: Session, shared_dir: Path) -> tuple[Session, Sae, Path]:
    reports = shared_dir / "data" / "openi_reports.csv"
    options = SyntheticOptions(name="syn", features=200, examples=8, tokens=24, reports=reports)
    report = build_synthetic(session, options)
    sae = session.get(Sae, report.sae_id)
    return session, sae, reports


def test_small_dataset_rows_and_statistics(small: tuple[Session, Sae, Path]) -> None:
    session, sae, _ = small
    assert (sae.d_sae, sae.group_sizes, sae.model.slug) == (
        200,
        [100, 50, 25, 12, 13],
        "maira-2-synthetic",
    )
    features = session.scalars(
        select(Feature).where(Feature.sae_id == sae.id).order_by(Feature.index)
    ).all()
    assert len(features) == 200
    assert [f.group for f in features].count(4) == 13
    dead = [f for f in features if f.n_active == 0]
    assert len(dead) == 6
    assert all(f.frequency == 0 and f.max_activation is None and f.label is None for f in dead)
    live = [f for f in features if f.n_active]
    for feature in live:
        assert len(feature.histogram_edges) == len(feature.histogram_counts) + 1
        assert sum(feature.histogram_counts) == feature.n_active
        assert feature.label and 0 < feature.f1 < 1
        assert feature.index not in feature.neighbour_indices
    per_feature = session.execute(
        text(
            "SELECT f.n_active > 0, e.kind, count(*) FROM examples e JOIN features f"
            " ON f.id = e.feature_id WHERE f.sae_id = :sae GROUP BY 1, 2"
        ),
        {"sae": sae.id},
    ).all()
    assert sorted(per_feature) == [(True, "interval", 194 * 20), (True, "top", 194 * 8)]
    heldout = session.execute(
        select(Feature.f1, Score.f1)
        .join(Explanation, Explanation.feature_id == Feature.id)
        .join(Score)
        .where(Feature.sae_id == sae.id, Score.split == "heldout")
    ).all()
    assert len(heldout) == 194
    assert all(feature_f1 == score_f1 for feature_f1, score_f1 in heldout)


def test_example_values_fit_their_windows_and_peak_at_max(
    small: tuple[Session, Sae, Path],
) -> None:
    session, sae, _ = small
    mismatched = session.scalar(
        text(
            "SELECT count(*) FROM examples e JOIN features f ON f.id = e.feature_id"
            ' WHERE f.sae_id = :sae AND length(e.values) <> 4 * (e."end" - e.start)'
        ),
        {"sae": sae.id},
    )
    assert mismatched == 0
    examples = session.scalars(
        select(Example).join(Feature).where(Feature.sae_id == sae.id).limit(300)
    ).all()
    for example in examples:
        values = np.frombuffer(example.values, dtype="<f4")
        assert values.max() == pytest.approx(example.max_value, rel=1e-6)
        assert example.start + int(values.argmax()) == example.max_position
        if example.kind == "interval":
            assert example.bin_min <= example.max_value <= example.bin_max
    top = session.execute(
        select(Example.max_value, Feature.max_activation)
        .join(Feature)
        .where(Feature.sae_id == sae.id, Example.kind == "top", Example.rank == 0)
    ).all()
    assert all(value == pytest.approx(maximum, rel=1e-6) for value, maximum in top)


def test_the_window_sample_holds_the_features_with_examples_in_each_document(
    small: tuple[Session, Sae, Path],
) -> None:
    session, sae, _ = small
    windows = session.scalars(select(WindowSample).where(WindowSample.sae_id == sae.id)).all()
    n_documents = session.scalar(select(func.count()).select_from(Document))
    assert len(windows) == min(n_documents, WINDOW_SAMPLE)
    assert sorted(w.position for w in windows) == list(range(len(windows)))
    for window in windows[:20]:
        assert window.start == 0 and window.end <= WINDOW_TOKENS
        peaks = dict(
            session.execute(
                select(Feature.index, func.max(Example.max_value))
                .join(Example, Example.feature_id == Feature.id)
                .where(Example.document_id == window.document_id, Example.start < window.end)
                .group_by(Feature.index)
            ).all()
        )
        assert window.feature_indices == sorted(peaks)
        assert window.feature_maxima == pytest.approx([peaks[i] for i in sorted(peaks)], rel=1e-6)


def test_example_tokens_come_from_the_report_csv(small: tuple[Session, Sae, Path]) -> None:
    session, sae, reports = small
    with reports.open(newline="", encoding="utf-8") as handle:
        texts = {
            row["uid"]: normalise_text(f"{row['findings']} {row['impression']}")
            for row in csv.DictReader(handle)
        }
    windows = session.execute(
        select(Document.external_id, Document.tokens, Example.start, Example.end)
        .join(Example, Example.document_id == Document.id)
        .join(Feature, Feature.id == Example.feature_id)
        .where(Feature.sae_id == sae.id)
        .limit(200)
    ).all()
    assert len(windows) == 200
    for external_id, tokens, start, end in windows:
        assert "".join(tokens) == texts[external_id]
        assert "".join(tokens[start:end]).strip() in texts[external_id]


def test_rerun_replaces_and_weights_imports_are_refused(
    small: tuple[Session, Sae, Path],
) -> None:
    session, sae, reports = small
    counts = [
        session.scalar(select(func.count()).select_from(table))
        for table in (Feature, Example, Explanation, Document, Corpus)
    ]
    again = build_synthetic(
        session, SyntheticOptions(name="syn", features=200, examples=8, tokens=24, reports=reports)
    )
    assert again.replaced and again.sae_id != sae.id
    assert counts == [
        session.scalar(select(func.count()).select_from(table))
        for table in (Feature, Example, Explanation, Document, Corpus)
    ]
    add_sae(session, slug="real")
    with pytest.raises(ImporterError, match="imported from weights"):
        build_synthetic(session, SyntheticOptions(name="real", features=10))


def test_command_generates_text_without_reports(
    make_database: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MAIRA_SAE_DATABASE_URL", make_database())
    get_settings.cache_clear()
    try:
        argv = ["synthetic", "--features", "50", "--examples", "4", "--tokens", "16"]
        assert main([*argv, "--name", "gen"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "created synthetic SAE 'gen': 50 features" in out
    assert "64 documents" in out
