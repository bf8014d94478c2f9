"""The window sample: drawn reproducibly, and each window's features and maxima equal a dense
encode of its tokens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import Engine, text

from sae import load_sae
from workers.corpus import read_reports
from workers.precompute.config import PrecomputeConfig
from workers.precompute.pipeline import run_precompute
from workers.precompute.sources import RunnerSource
from workers.precompute.windows import WINDOW_TOKENS, sample_windows

N_WINDOWS = 25


def stored_sample(engine: Engine, sae: str) -> list[tuple]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    'SELECT w.position, d.external_id, w.start, w."end", w.seed, '
                    "w.feature_indices, w.feature_maxima FROM window_samples w "
                    "JOIN saes s ON s.id = w.sae_id JOIN documents d ON d.id = w.document_id "
                    "WHERE s.slug = :sae ORDER BY w.position"
                ),
                {"sae": sae},
            )
        ]


def test_the_draw_is_seeded_distinct_and_inside_its_documents() -> None:
    lengths = {0: 70, 1: 5, 2: 0, 3: 33, 7: 64}
    drawn = sample_windows(lengths, 6, seed=3)
    assert drawn == sample_windows(lengths, 6, seed=3)
    assert drawn != sample_windows(lengths, 6, seed=4)
    assert [w.position for w in drawn] == list(range(6))
    spans = {(w.document, w.start) for w in drawn}
    assert len(spans) == 6
    for window in drawn:
        assert window.start % WINDOW_TOKENS == 0
        assert 0 <= window.start < window.end <= lengths[window.document]
        assert window.end - window.start <= WINDOW_TOKENS
    everything = sample_windows(lengths, 100, seed=0)  # 3 + 1 + 2 + 2 windows in all
    assert len(everything) == 8 and 2 not in {w.document for w in everything}
    assert sample_windows(lengths, 0, seed=0) == []


def test_each_window_holds_exactly_the_features_active_on_its_tokens(
    fresh_engine, make_sae_row, small_config, source: RunnerSource, sae_folder: Path, tmp_path
) -> None:
    url, engine = fresh_engine()
    make_sae_row(url, "one-pass")
    make_sae_row(url, "sharded")
    config = PrecomputeConfig(
        reports=small_config.reports, limit=30, top_k=8, batch_size=8, window_sample=N_WINDOWS
    )
    outcome = run_precompute(engine, config, "one-pass", tmp_path, source=source)
    assert outcome is not None and outcome.n_windows == N_WINDOWS
    sample = stored_sample(engine, "one-pass")
    assert len(sample) == N_WINDOWS
    sae = load_sae(sae_folder)
    reports = {r.external_id: r for r in read_reports(config.reports, limit=30)}
    for _, document, start, end, seed, indices, maxima in sample:
        assert seed == 0
        captured = source.capture([reports[document]])[0]
        with torch.no_grad():
            acts = sae.encode_raw(captured.activations[start:end]).numpy()
        peak = acts.max(axis=0)
        assert indices == np.flatnonzero(peak > 0).tolist()
        np.testing.assert_allclose(maxima, peak[indices], atol=1e-4)
    # the same corpus and seed give the same windows, whatever the sharding
    sharded = PrecomputeConfig(
        reports=config.reports, limit=30, top_k=8, batch_size=8, n_shards=2,
        window_sample=N_WINDOWS,
    )  # fmt: skip
    run_precompute(engine, sharded, "sharded", tmp_path, source=source)
    again = stored_sample(engine, "sharded")
    assert [row[:5] for row in again] == [row[:5] for row in sample]
    assert [row[5] for row in again] == [row[5] for row in sample]
    for got, want in zip(again, sample, strict=True):
        assert got[6] == pytest.approx(want[6], abs=1e-5)
