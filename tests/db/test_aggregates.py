"""Stored per-SAE aggregates: refreshed by every writer, computed once when missing or outdated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from db.aggregates import (
    AGGREGATES_VERSION,
    compute_aggregates,
    density_histogram,
    stored_aggregates,
    stored_feature_count,
)
from db.importers.autointerp import import_autointerp
from db.importers.saes import SaeSpec, write_sae
from db.importers.synthetic import SyntheticOptions, build_synthetic
from tests.db.importers.helpers import add_sae
from tests.support.aggregates import assert_aggregates_current
from tests.support.factories import make_feature, make_sae


def _stored(session: Session, sae_id: int) -> dict | None:
    return session.execute(
        text("SELECT statistics FROM sae_aggregates WHERE sae_id = :id"), {"id": sae_id}
    ).scalar_one_or_none()


def test_import_sae_stores_aggregates(session: Session) -> None:
    d_sae = 16
    spec = SaeSpec(
        slug="imported", layer=15, d_in=8, d_sae=d_sae, k=4, threshold=0.1, group_sizes=[8, 8]
    )
    neighbours = np.tile(np.arange(1, 4, dtype=np.int64), (d_sae, 1))
    sae_id = write_sae(
        session, spec, np.repeat([0, 1], 8), neighbours, np.full((d_sae, 3), 0.5, np.float32)
    )
    stored = assert_aggregates_current(session, sae_id)
    assert stored["n_features"] == d_sae and stored["n_explained"] == 0
    assert stored["n_f1_above_075"] is None  # nothing scored: unknown, not zero


def test_import_autointerp_refreshes_aggregates(session: Session, tmp_path: Path) -> None:
    sae = add_sae(session, d_sae=8)
    stored_aggregates(session, sae.id)
    path = tmp_path / "ef4.csv"
    path.write_text("index,description,heldout_f1\n1,first,0.3\n2,second,0.8\n")
    import_autointerp(session, path, sae.slug)
    stored = assert_aggregates_current(session, sae.id)
    assert (stored["n_explained"], stored["n_scored"]) == (2, 2)
    assert (stored["n_f1_above_075"], stored["n_f1_below_05"]) == (1, 1)


def test_synthetic_stores_aggregates(session: Session) -> None:
    report = build_synthetic(session, SyntheticOptions(name="syn", features=64, examples=2))
    stored = assert_aggregates_current(session, report.sae_id)
    assert stored["n_features"] == 64 and stored["n_live"] == report.live_features


def test_missing_or_outdated_aggregates_are_computed_once_and_stored(session: Session) -> None:
    sae = make_sae(session, "old-db", d_sae=3)
    for index in range(3):
        make_feature(session, sae, index, frequency=10 ** -(index + 1))
    assert _stored(session, sae.id) is None  # as in a database from before the table
    first = stored_aggregates(session, sae.id)
    assert _stored(session, sae.id) == first == compute_aggregates(session, sae.id)
    session.execute(
        text("UPDATE sae_aggregates SET version = :v, statistics = '{}' WHERE sae_id = :id"),
        {"v": AGGREGATES_VERSION - 1, "id": sae.id},
    )
    assert stored_aggregates(session, sae.id) == first
    assert_aggregates_current(session, sae.id)


def test_the_feature_count_alone_is_read_or_computed_once(session: Session) -> None:
    sae = make_sae(session, "count-only", d_sae=4)
    for index in range(3):
        make_feature(session, sae, index)
    assert _stored(session, sae.id) is None
    assert stored_feature_count(session, sae.id) == 3
    assert _stored(session, sae.id)["n_features"] == 3


def test_pages_read_the_stored_row_not_the_features(session: Session) -> None:
    sae = make_sae(session, "cached", d_sae=2)
    make_feature(session, sae, 0)
    stored_aggregates(session, sae.id)
    make_feature(session, sae, 1)  # a write that did not refresh: the stored row stands
    assert stored_aggregates(session, sae.id)["n_features"] == 1


def test_density_histogram_bins_whole_decades() -> None:
    bins = density_histogram(np.log10(np.array([1e-4, 2e-4, 0.05, 0.5])))
    assert bins[0]["log10_frequency_min"] == -4 and bins[-1]["log10_frequency_max"] == 0
    assert len(bins) == 4 * 5
    assert sum(b["count"] for b in bins) == 4
    assert bins[0]["count"] == 1 and bins[1]["count"] == 1  # 1e-4 and 2e-4 (log -3.7)
    assert density_histogram(np.array([])) == []
