"""GET /api/v1/saes and /api/v1/saes/{sae}: the list and the summary statistics."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from tests.support.factories import SeededData, log_frequency_f1_points


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def test_list_saes(client: TestClient, seeded: SeededData) -> None:
    body = client.get("/api/v1/saes").json()
    assert body["count"] == 1
    (sae,) = body["data"]
    assert sae["slug"] == "test-sae"
    assert sae["model"] == "tiny-maira2"
    assert sae["n_features"] == seeded.d_sae
    assert sae["n_explained"] == len(seeded.labelled)
    assert "id" not in sae


def test_summary_counts(client: TestClient, seeded: SeededData) -> None:
    body = client.get("/api/v1/saes/test-sae").json()
    assert body["sae"]["slug"] == "test-sae"
    assert body["n_features"] == seeded.d_sae
    assert body["n_dead"] == len(seeded.dead)
    assert body["n_explained"] == len(seeded.labelled)
    assert body["n_scored"] == len(seeded.f1)
    assert body["n_f1_above_075"] == sum(f1 > 0.75 for f1 in seeded.f1.values())
    assert body["n_f1_below_05"] == sum(f1 < 0.5 for f1 in seeded.f1.values())
    assert abs(body["mean_f1"] - np.mean(list(seeded.f1.values()))) < 1e-9


def test_f1_histogram_has_every_scored_feature(client: TestClient, seeded: SeededData) -> None:
    bins = client.get("/api/v1/saes/test-sae").json()["f1_histogram"]
    assert len(bins) == 20
    assert bins[0]["f1_min"] == 0 and bins[-1]["f1_max"] == 1
    assert sum(b["count"] for b in bins) == len(seeded.f1)
    for f1 in seeded.f1.values():
        assert any(b["f1_min"] <= f1 < b["f1_max"] + 1e-9 and b["count"] for b in bins)


def test_spearman_rho_matches_numpy(client: TestClient, seeded: SeededData) -> None:
    body = client.get("/api/v1/saes/test-sae").json()
    points = np.array(log_frequency_f1_points(seeded))
    expected = np.corrcoef(_average_ranks(points[:, 0]), _average_ranks(points[:, 1]))[0, 1]
    assert body["n_rho"] == len(points)
    assert -0.9 < expected < 0  # ties and a non-monotone relation, so ranks matter
    assert abs(body["spearman_rho"] - expected) < 1e-9
    assert sum(cell["count"] for cell in body["frequency_f1"]) == len(points)
    for cell in body["frequency_f1"]:
        assert cell["log10_frequency_min"] < cell["log10_frequency_max"]
        assert 0 <= cell["f1_min"] < cell["f1_max"] <= 1


def test_summary_of_sae_without_features(client: TestClient, session) -> None:
    from tests.support.factories import make_sae

    make_sae(session, "empty-sae", d_sae=8)
    body = client.get("/api/v1/saes/empty-sae").json()
    assert body["n_features"] == 0
    assert body["spearman_rho"] is None
    assert body["frequency_f1"] == []
    assert sum(b["count"] for b in body["f1_histogram"]) == 0
