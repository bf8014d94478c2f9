"""The precompute pass against brute force, fresh encodes, re-runs, shards and resumed runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import Engine, text

from sae import load_sae
from sae.stats import log_edges
from tests.support.aggregates import assert_aggregates_current
from workers.corpus import read_reports
from workers.precompute.config import PrecomputeConfig, example_window
from workers.precompute.pipeline import run_precompute
from workers.precompute.sources import RunnerSource

EXAMPLE_COLUMNS = (
    'f.index, e.kind, e.rank, d.external_id, e.start, e."end", e.values, e.max_value, '
    "e.max_position, e.bin_min, e.bin_max, e.bin_share"
)


def examples(engine: Engine, sae: str, kind: str | None = None) -> list[tuple]:
    query = (
        f"SELECT {EXAMPLE_COLUMNS} FROM examples e JOIN features f ON f.id = e.feature_id "
        "JOIN saes s ON s.id = f.sae_id JOIN documents d ON d.id = e.document_id "
        "WHERE s.slug = :sae AND (CAST(:kind AS text) IS NULL OR e.kind = :kind) "
        "ORDER BY f.index, e.kind, e.bin_min DESC NULLS FIRST, e.rank"
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(query), {"sae": sae, "kind": kind})]


def feature_rows(engine: Engine, sae: str) -> list[tuple]:
    query = (
        "SELECT f.index, f.frequency, f.n_active, f.n_tokens, f.max_activation, "
        "f.mean_activation, f.histogram_edges, f.histogram_counts FROM features f "
        "JOIN saes s ON s.id = f.sae_id WHERE s.slug = :sae ORDER BY f.index"
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(query), {"sae": sae})]


def mean_token_norm(engine: Engine, sae: str) -> float | None:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT mean_token_norm FROM saes WHERE slug = :slug"), {"slug": sae}
        ).scalar_one()


def values_of(row: tuple) -> np.ndarray:
    return np.frombuffer(row[6], dtype="<f4")


def assert_same_examples(actual: list[tuple], expected: list[tuple], atol: float = 1e-5) -> None:
    """Same example rows; values compared with a tolerance, everything else exactly."""
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got[:6] == want[:6]
        np.testing.assert_allclose(values_of(got), values_of(want), atol=atol)
        assert got[7] == pytest.approx(want[7], abs=atol)
        assert got[8] == want[8]
        assert got[9:] == pytest.approx(want[9:], abs=atol)


@pytest.fixture
def database(fresh_engine, make_sae_row) -> Engine:
    url, engine = fresh_engine()
    make_sae_row(url, "random")
    return engine


def test_counts_max_histogram_and_top_examples_equal_brute_force(
    database: Engine,
    small_config: PrecomputeConfig,
    source: RunnerSource,
    sae_folder: Path,
    tmp_path: Path,
) -> None:
    outcome = run_precompute(database, small_config, "random", tmp_path, source=source)
    assert outcome is not None and outcome.n_documents == 30
    # Brute force: every token of the corpus, encoded densely (same capture batches).
    sae = load_sae(sae_folder)
    reports = list(read_reports(small_config.reports, limit=small_config.limit))
    captured, external = [], []
    for start in range(0, len(reports), small_config.batch_size):
        batch = reports[start : start + small_config.batch_size]
        for report, item in zip(batch, source.capture(batch), strict=True):
            captured.append(item)
            external += [(report.external_id, position) for position in range(len(item.tokens))]
    raw = torch.cat([item.activations for item in captured])
    with torch.no_grad():
        acts = sae.encode_raw(raw).numpy()
    n_tokens, d_sae = acts.shape
    assert mean_token_norm(database, "random") == pytest.approx(
        float(raw.norm(dim=1).mean()), rel=1e-5
    )
    edges = log_edges().numpy().astype(np.float64)
    rows = feature_rows(database, "random")
    assert len(rows) == d_sae
    top = examples(database, "random", "top")
    for index, frequency, n_active, total, max_activation, mean, hist_edges, hist_counts in rows:
        column = acts[:, index]
        active = column[column > 0]
        assert total == n_tokens
        assert n_active == len(active)
        assert frequency == pytest.approx(len(active) / n_tokens)
        if not len(active):
            assert max_activation is None and hist_counts == []
            continue
        assert max_activation == pytest.approx(float(active.max()), abs=1e-6)
        assert mean == pytest.approx(float(active.mean()), rel=1e-5)
        full = np.concatenate([[0.0], edges, [max(float(active.max()), edges[-1])]])
        counts = np.histogram(active, bins=full)[0]
        nonzero = np.flatnonzero(counts)
        assert hist_counts == counts[nonzero[0] : nonzero[-1] + 1].tolist()
        np.testing.assert_allclose(hist_edges, full[nonzero[0] : nonzero[-1] + 2], rtol=1e-6)
        # Top-K: the K largest activations, by value, each at its document and position.
        order = np.argsort(-column, kind="stable")[: small_config.top_k]
        order = order[column[order] > 0]
        stored = [row for row in top if row[0] == index]
        assert [row[2] for row in stored] == list(range(len(order)))
        np.testing.assert_allclose([row[7] for row in stored], column[order], atol=1e-6)
        for row, token in zip(stored, order, strict=True):
            document, position = external[token]
            if np.sum(np.isclose(column, column[token], atol=1e-7)) == 1:
                assert (row[3], row[8]) == (document, position)


def test_top_example_values_equal_a_fresh_encode_of_the_window(
    database: Engine,
    small_config: PrecomputeConfig,
    source: RunnerSource,
    sae_folder: Path,
    tmp_path: Path,
) -> None:
    run_precompute(database, small_config, "random", tmp_path, source=source)
    sae = load_sae(sae_folder)
    reports = {r.external_id: r for r in read_reports(small_config.reports, limit=30)}
    top = [row for row in examples(database, "random", "top") if row[2] == 0]
    chosen = np.random.default_rng(0).choice(len(top), size=min(10, len(top)), replace=False)
    for row in (top[i] for i in chosen):
        index, _, _, document, start, end = row[:6]
        fresh = source.capture([reports[document]])[0]
        assert (start, end) == example_window(row[8], len(fresh.tokens))
        with torch.no_grad():
            expected = sae.encode_raw(fresh.activations[start:end])[:, index].numpy()
        np.testing.assert_allclose(values_of(row), expected, atol=1e-4)
        assert row[7] == pytest.approx(float(expected[row[8] - start]), abs=1e-4)
        with database.connect() as connection:
            tokens = connection.execute(
                text("SELECT tokens FROM documents WHERE external_id = :id"), {"id": document}
            ).scalar_one()
        assert tokens == fresh.tokens


def test_rerun_replaces_results_without_duplicates(
    database: Engine, small_config: PrecomputeConfig, source: RunnerSource, tmp_path: Path
) -> None:
    run_precompute(database, small_config, "random", tmp_path, source=source)
    first_examples, first_features = examples(database, "random"), feature_rows(database, "random")
    run_precompute(database, small_config, "random", tmp_path, source=source)
    assert examples(database, "random") == first_examples
    assert feature_rows(database, "random") == first_features
    with database.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM documents")).scalar_one() == 30
        assert connection.execute(text("SELECT count(*) FROM corpora")).scalar_one() == 1
        run = connection.execute(
            text("SELECT status, n_documents, n_tokens, finished_at FROM precompute_runs")
        ).all()
    assert len(run) == 1 and run[0][0] == "done" and run[0][1] == 30 and run[0][3] is not None
    assert not any((tmp_path / "precompute").glob("*/shard-*")), "state is removed after merge"
    with database.connect() as connection:
        sae_id = connection.execute(text("SELECT id FROM saes WHERE slug = 'random'")).scalar_one()
        stored = assert_aggregates_current(connection, sae_id)
    assert stored["n_with_statistics"] == len(first_features)


def test_two_shards_and_merge_equal_one_pass(
    fresh_engine, make_sae_row, small_config: PrecomputeConfig, source, tmp_path: Path
) -> None:
    url, engine = fresh_engine()
    make_sae_row(url, "one-pass")
    make_sae_row(url, "sharded")
    run_precompute(engine, small_config, "one-pass", tmp_path, source=source)
    sharded = PrecomputeConfig(
        reports=small_config.reports, limit=30, top_k=small_config.top_k, n_shards=2, batch_size=8
    )
    assert run_precompute(engine, sharded, "sharded", tmp_path, shards=[1], source=source) is None
    with engine.connect() as connection:
        status = connection.execute(
            text(
                "SELECT status, shards FROM precompute_runs r JOIN saes s ON s.id = r.sae_id "
                "WHERE s.slug = 'sharded'"
            )
        ).one()
    assert status[0] == "running" and status[1]["1"]["status"] == "done" and "0" not in status[1]
    assert run_precompute(engine, sharded, "sharded", tmp_path, shards=[0], source=source)
    # Batches differ between the runs (padding), so values agree to float32 noise.
    assert_same_examples(examples(engine, "sharded"), examples(engine, "one-pass"))
    for got, want in zip(
        feature_rows(engine, "sharded"), feature_rows(engine, "one-pass"), strict=True
    ):
        assert got[:4] == want[:4] and got[7] == want[7]
        assert got[4] == pytest.approx(want[4], abs=1e-5)
    assert mean_token_norm(engine, "sharded") == pytest.approx(
        mean_token_norm(engine, "one-pass"), rel=1e-5
    )


class Interrupted(Exception):
    pass


def test_interrupted_run_resumes_from_its_checkpoint(
    fresh_engine, make_sae_row, small_config: PrecomputeConfig, source, tmp_path: Path
) -> None:
    url, engine = fresh_engine()
    make_sae_row(url, "reference")
    make_sae_row(url, "resumed")
    run_precompute(engine, small_config, "reference", tmp_path, source=source)
    config = PrecomputeConfig(
        reports=small_config.reports,
        limit=30,
        top_k=small_config.top_k,
        batch_size=8,
        checkpoint_every=8,
    )
    seen: list[int] = []

    def stop_after_first(shard: int, progress) -> None:
        seen.append(progress.documents)
        if len(seen) == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_precompute(
            engine, config, "resumed", tmp_path, source=source, on_checkpoint=stop_after_first
        )
    with engine.connect() as connection:
        status, documents = connection.execute(
            text(
                "SELECT status, n_documents FROM precompute_runs r JOIN saes s "
                "ON s.id = r.sae_id WHERE s.slug = 'resumed'"
            )
        ).one()
    assert (status, documents) == ("failed", 8)
    run_precompute(
        engine, config, "resumed", tmp_path, source=source, on_checkpoint=stop_after_first
    )
    assert seen[1] == 16, "the resumed run continues after the 8 checkpointed documents"
    assert_same_examples(examples(engine, "resumed"), examples(engine, "reference"), atol=0)
    assert feature_rows(engine, "resumed") == feature_rows(engine, "reference")


def test_reports_with_images_are_captured_with_them(
    database: Engine, source: RunnerSource, reports_csv: Path, tmp_path: Path
) -> None:
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for uid in ("1", "2", "3"):
        pixels = rng.integers(0, 256, size=(64, 64), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"{uid}.png")
    config = PrecomputeConfig(reports=reports_csv, images=images, limit=3, top_k=4)
    outcome = run_precompute(database, config, "random", tmp_path, source=source)
    assert outcome is not None and outcome.n_documents == 3
    text_only_tokens = sum(
        len(item.tokens) for item in source.capture(list(read_reports(reports_csv, limit=3)))
    )
    assert outcome.n_tokens == text_only_tokens, "the report tokens are the same with images"
    with database.connect() as connection:
        corpus = connection.execute(text("SELECT slug, text_only FROM corpora")).one()
        frontal = (
            connection.execute(text("SELECT meta->>'frontal' FROM documents ORDER BY id"))
            .scalars()
            .all()
        )
    assert tuple(corpus) == ("maira-2-tiny-openi-reports-first3-images", False)
    assert frontal == ["1.png", "2.png", "3.png"]
