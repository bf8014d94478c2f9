"""The demo build on a small corpus: SAE trained, imported, dashboards and keyword labels stored."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from sqlalchemy import text

from app.services.features import get_feature
from app.services.saes import find_sae
from app.services.study_sets import list_study_sets
from db.engine import make_sessionmaker
from db.settings import get_settings
from tests.support.aggregates import assert_aggregates_current
from workers.demo import DEMO_SAE, HELD_OUT_SET, build_demo, demo_present
from workers.precompute.keywords import PROVENANCE, SOURCE_KEY

FINDING_WORDS = re.compile(r"effusion|pneumothorax|cardiomegaly|heart|opacit|consolidation|tube")
"""Words that name a finding the organism's drawn studies show; some SAE labels carry them."""


@pytest.fixture
def demo_settings(monkeypatch: pytest.MonkeyPatch, fresh_engine, tmp_path: Path):
    url, engine = fresh_engine()
    monkeypatch.setenv("MAIRA_SAE_DATABASE_URL", url)
    monkeypatch.setenv("MAIRA_SAE_HOME", str(tmp_path))
    get_settings.cache_clear()
    threads = torch.get_num_threads()
    yield engine, tmp_path
    torch.set_num_threads(threads)
    get_settings.cache_clear()


def test_demo_build_stores_a_browsable_sae(demo_settings) -> None:
    engine, home = demo_settings
    assert not demo_present(engine)
    build = build_demo(engine, home, limit=120, steps=120, model_steps=10)
    assert demo_present(engine)
    assert set(build.timings) == {
        "corpus",
        "model",
        "capture",
        "train",
        "import",
        "precompute",
        "labels",
        "llm labels",
    }
    assert (home / "saes" / DEMO_SAE / "ae.pt").is_file()
    (held_out,) = list_study_sets(get_settings()).data
    assert held_out.name == HELD_OUT_SET and held_out.n_studies > 200
    with engine.connect() as connection:
        sae = connection.execute(
            text("SELECT d_in, d_sae, k, threshold FROM saes WHERE slug = :slug"),
            {"slug": DEMO_SAE},
        ).one()
        stats = connection.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE n_active > 0), sum(n_active) FROM features"
            )
        ).one()
        documents = connection.execute(text("SELECT count(*) FROM documents")).scalar_one()
        labels = connection.execute(
            text(
                "SELECT e.source, e.provenance, e.text, f.label FROM explanations e "
                "JOIN features f ON f.id = e.feature_id WHERE e.source_key = :key "
                "AND NOT EXISTS (SELECT 1 FROM explanations l "
                "WHERE l.feature_id = f.id AND l.source = 'llm')"
            ),
            {"key": SOURCE_KEY},
        ).all()
        llm = connection.execute(
            text(
                "SELECT e.model_name, f.label = e.text AS shown, count(v.id) AS verdicts "
                "FROM explanations e JOIN features f ON f.id = e.feature_id "
                "JOIN scores s ON s.explanation_id = e.id "
                "JOIN autointerp_verdicts v ON v.score_id = s.id "
                "WHERE e.source = 'llm' GROUP BY e.id, f.label"
            )
        ).all()
        n_labelled = connection.execute(
            text("SELECT count(DISTINCT feature_id) FROM explanations")
        ).scalar_one()
    assert tuple(sae[:3]) == (64, 512, 16) and sae[3] > 0
    # A quarter live: the 10-step organism's activations over 120 reports keep about 230 of the
    # 512 features live (the full demo build: 497).
    assert stats[0] == 512 and stats[1] > 128
    assert documents == 120
    assert labels and all(
        source == "heuristic" and provenance == PROVENANCE for source, provenance, *_ in labels
    )
    assert all(text_.startswith("keywords: ") and label == text_ for *_, text_, label in labels)
    assert any(FINDING_WORDS.search(text_) for *_, text_, _ in labels)
    with engine.connect() as connection:
        sae_id = connection.execute(
            text("SELECT id FROM saes WHERE slug = :slug"), {"slug": DEMO_SAE}
        ).scalar_one()
        stored = assert_aggregates_current(connection, sae_id)
    assert stored["n_explained"] == n_labelled and stored["n_live"] == stats[1]
    # the stand-in LLM labelled some features, named as such, with per-example verdicts
    assert llm and all("stand-in" in model and verdicts > 0 for model, _, verdicts in llm)


def test_demo_feature_figures_match_their_definitions(demo_settings) -> None:
    """On real precomputed data, each figure of the feature record means what it says."""
    engine, home = demo_settings
    build_demo(engine, home, limit=60, steps=60, model_steps=10)
    with make_sessionmaker(engine)() as session:
        sae = find_sae(session, slug=DEMO_SAE)
        assert sae is not None
        checked = 0
        for index in range(sae.d_sae):
            feature = get_feature(session, sae=sae, index=index)
            assert feature is not None
            if not feature.n_active:
                assert feature.dead and not feature.top_examples
                continue
            checked += 1
            assert feature.frequency == pytest.approx(feature.n_active / feature.n_tokens)
            assert sum(feature.histogram.counts) == feature.n_active
            assert feature.histogram.edges[-1] >= feature.max_activation * (1 - 1e-6)
            assert 0 < feature.mean_activation <= feature.max_activation
            top = feature.top_examples[0]
            assert top.sampled_value == pytest.approx(feature.max_activation, abs=1e-5)
            sampled = [e.sampled_value for e in feature.top_examples]
            assert sampled == sorted(sampled, reverse=True)
            examples = feature.top_examples + [e for i in feature.intervals for e in i.examples]
            for example in examples:
                assert len(example.tokens) == len(example.values)
                assert example.max_value == max(example.values)
                assert example.values[example.sampled_offset] == example.sampled_value
                assert example.max_value <= feature.max_activation + 1e-5
            for interval in feature.intervals:
                for example in interval.examples:
                    assert interval.bin_min - 1e-5 <= example.sampled_value
                    assert example.sampled_value <= interval.bin_max + 1e-5
        # Most features checked: the 10-step organism over 60 reports keeps about 40% live
        # (218 of 512 with its training pinned to AVX2 kernels).
        assert checked > sae.d_sae // 4
