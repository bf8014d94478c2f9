"""Check that an SAE's stored aggregates are current: what a fresh scan of its features gives."""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from db.aggregates import AGGREGATES_VERSION, compute_aggregates


def assert_aggregates_current(executor: Session | Connection, sae_id: int) -> dict:
    """The stored aggregates row of `sae_id`, asserted equal to a fresh computation."""
    row = executor.execute(
        text(
            "SELECT version, n_features, n_explained, statistics FROM sae_aggregates "
            "WHERE sae_id = :id"
        ),
        {"id": sae_id},
    ).one_or_none()
    assert row is not None, f"no stored aggregates for SAE {sae_id}"
    fresh = compute_aggregates(executor, sae_id)
    assert row.version == AGGREGATES_VERSION
    assert (row.n_features, row.n_explained) == (fresh["n_features"], fresh["n_explained"])
    assert row.statistics == fresh
    return row.statistics
