"""Per-SAE aggregates (counts, F1 and density histograms, frequency-vs-F1 grid, Spearman's rho),
computed in one scan of the SAE's features and stored in `sae_aggregates`.

Every writer that changes features, labels or scores calls `refresh_sae_aggregates` in its own
transaction (import-sae, import-autointerp, synthetic, precompute, the demo's labels), so pages
read one stored row instead of scanning every feature. A row stored by older code (another
AGGREGATES_VERSION) or missing altogether is recomputed by `stored_aggregates` on first read.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

AGGREGATES_VERSION = 1
F1_BINS = 20
GRID_FREQUENCY_BINS = 24
GRID_F1_BINS = 10
DENSITY_BINS_PER_DECADE = 5
F1_GOOD, F1_POOR = 0.75, 0.5

# One scan of the SAE's features, as arrays; the statistics are computed with numpy.
_FEATURE_COLUMNS = text("""
SELECT coalesce(array_agg(coalesce(frequency, 'NaN')), '{}') AS frequency,
    coalesce(array_agg(coalesce(f1, 'NaN')), '{}') AS f1,
    coalesce(array_agg(label IS NOT NULL), '{}') AS labelled,
    coalesce(array_agg(coalesce(frequency = 0 OR n_active = 0, false)), '{}') AS dead
FROM features WHERE sae_id = :sae_id
""")

_STORE = text("""
INSERT INTO sae_aggregates (sae_id, version, n_features, n_explained, statistics, computed_at)
VALUES (:sae_id, :version, :n_features, :n_explained, CAST(:statistics AS jsonb), now())
ON CONFLICT (sae_id) DO UPDATE SET version = EXCLUDED.version,
    n_features = EXCLUDED.n_features, n_explained = EXCLUDED.n_explained,
    statistics = EXCLUDED.statistics, computed_at = EXCLUDED.computed_at
""")

_READ = text("SELECT version, statistics FROM sae_aggregates WHERE sae_id = :sae_id")
_READ_COUNT = text("SELECT version, n_features FROM sae_aggregates WHERE sae_id = :sae_id")

Executor = Session | Connection


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, ties sharing their average rank (as scipy's rankdata)."""
    order = np.argsort(values, kind="mergesort")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(values))
    ordered = values[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    dense = starts.cumsum()[inverse]
    bounds = np.r_[np.nonzero(starts)[0], len(values)]
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation (Pearson's r on average ranks); None if undefined."""
    if len(x) < 3:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def f1_histogram(f1: np.ndarray) -> list[dict[str, float]]:
    """F1_BINS equal bins over [0, 1]; F1 = 1 falls in the last."""
    bins = np.clip(np.floor(f1 * F1_BINS), 0, F1_BINS - 1).astype(np.int64)
    counts = np.bincount(bins, minlength=F1_BINS)
    width = 1 / F1_BINS
    return [
        {"f1_min": round(b * width, 6), "f1_max": round((b + 1) * width, 6), "count": int(c)}
        for b, c in enumerate(counts)
    ]


def density_histogram(log_frequency: np.ndarray) -> list[dict[str, float]]:
    """Bins of DENSITY_BINS_PER_DECADE per decade of log10 frequency over whole decades."""
    if len(log_frequency) == 0:
        return []
    lo = float(np.floor(log_frequency.min()))
    hi = max(float(np.ceil(log_frequency.max())), lo + 1)
    n = round((hi - lo) * DENSITY_BINS_PER_DECADE)
    bins = np.clip(np.floor((log_frequency - lo) * DENSITY_BINS_PER_DECADE), 0, n - 1)
    counts = np.bincount(bins.astype(np.int64), minlength=n)
    width = 1 / DENSITY_BINS_PER_DECADE
    return [
        {
            "log10_frequency_min": round(lo + b * width, 6),
            "log10_frequency_max": round(lo + (b + 1) * width, 6),
            "count": int(c),
        }
        for b, c in enumerate(counts)
    ]


def frequency_f1_grid(log_frequency: np.ndarray, f1: np.ndarray) -> list[dict[str, float]]:
    """Non-empty cells of a GRID_FREQUENCY_BINS x GRID_F1_BINS grid over (log10 frequency, F1)."""
    if len(log_frequency) == 0:
        return []
    lo = float(np.floor(log_frequency.min()))
    hi = max(float(np.ceil(log_frequency.max())), lo + 1)
    nx, ny = GRID_FREQUENCY_BINS, GRID_F1_BINS
    bx = np.clip(np.floor((log_frequency - lo) / (hi - lo) * nx), 0, nx - 1).astype(np.int64)
    by = np.clip(np.floor(f1 * ny), 0, ny - 1).astype(np.int64)
    counts = np.bincount(bx * ny + by, minlength=nx * ny)
    x_width = (hi - lo) / nx
    return [
        {
            "log10_frequency_min": round(lo + (cell // ny) * x_width, 6),
            "log10_frequency_max": round(lo + (cell // ny + 1) * x_width, 6),
            "f1_min": round((cell % ny) / ny, 6),
            "f1_max": round((cell % ny + 1) / ny, 6),
            "count": int(counts[cell]),
        }
        for cell in np.nonzero(counts)[0]
    ]


def compute_aggregates(executor: Executor, sae_id: int) -> dict[str, Any]:
    """The aggregates of one SAE from a scan of its features (what the overview shows)."""
    row = executor.execute(_FEATURE_COLUMNS, {"sae_id": sae_id}).mappings().one()
    frequency = np.asarray(row["frequency"], dtype=np.float64)
    f1 = np.asarray(row["f1"], dtype=np.float64)
    labelled = np.asarray(row["labelled"], dtype=bool)
    dead = np.asarray(row["dead"], dtype=bool)
    has_f1 = ~np.isnan(f1)
    has_frequency = ~np.isnan(frequency)
    live = has_frequency & (np.nan_to_num(frequency) > 0)
    points = labelled & has_f1 & live
    log_frequency = np.log10(frequency[points])
    scored = f1[has_f1]
    any_scored = bool(has_f1.any())
    return {
        "n_features": len(f1),
        "n_dead": int(dead.sum()),
        "n_live": int(live.sum()),
        "n_with_statistics": int(has_frequency.sum()),
        "n_explained": int(labelled.sum()),
        "n_scored": int((labelled & has_f1).sum()),
        "n_f1_above_075": int((scored > F1_GOOD).sum()) if any_scored else None,
        "n_f1_below_05": int((scored < F1_POOR).sum()) if any_scored else None,
        "mean_f1": float(scored.mean()) if any_scored else None,
        "median_frequency": float(np.median(frequency[has_frequency]))
        if has_frequency.any()
        else None,
        "f1_histogram": f1_histogram(scored),
        "frequency_f1": frequency_f1_grid(log_frequency, f1[points]),
        "density_histogram": density_histogram(np.log10(frequency[live])),
        "spearman_rho": spearman_rho(log_frequency, f1[points]),
        "n_rho": int(points.sum()),
    }


def refresh_sae_aggregates(executor: Executor, sae_id: int) -> dict[str, Any]:
    """Recompute and store the SAE's aggregates in the caller's transaction; return them."""
    statistics = compute_aggregates(executor, sae_id)
    executor.execute(
        _STORE,
        {
            "sae_id": sae_id,
            "version": AGGREGATES_VERSION,
            "n_features": statistics["n_features"],
            "n_explained": statistics["n_explained"],
            "statistics": json.dumps(statistics),
        },
    )
    return statistics


def stored_aggregates(session: Session, sae_id: int) -> dict[str, Any]:
    """The SAE's stored aggregates; computed, stored and committed first when missing or old."""
    row = session.execute(_READ, {"sae_id": sae_id}).first()
    if row is not None and row.version == AGGREGATES_VERSION:
        return row.statistics
    statistics = refresh_sae_aggregates(session, sae_id)
    session.commit()
    return statistics


def stored_feature_count(session: Session, sae_id: int) -> int:
    """The SAE's stored number of feature rows (without reading the charts' data)."""
    row = session.execute(_READ_COUNT, {"sae_id": sae_id}).first()
    if row is not None and row.version == AGGREGATES_VERSION:
        return row.n_features
    return stored_aggregates(session, sae_id)["n_features"]
