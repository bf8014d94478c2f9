"""SAE reads: lookup by slug, the list with headline counts, and summary statistics."""

from __future__ import annotations

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.schemas.saes import F1Bin, FrequencyF1Cell, SaeList, SaeListItem, SaeRef, SaeSummary

F1_BINS = 20
GRID_FREQUENCY_BINS = 24
GRID_F1_BINS = 10

_SAE_COLUMNS = """
    s.id, s.slug, m.slug AS model, s.description, s.architecture, s.hookpoint, s.layer,
    s.d_in, s.d_sae, s.k, s.threshold, s.group_sizes, s.input_scale
"""

_FIND_SAE = text(
    f"SELECT {_SAE_COLUMNS} FROM saes s JOIN models m ON m.id = s.model_id WHERE s.slug = :slug"
)

_LIST_SAES = text(f"""
WITH counts AS (
    SELECT sae_id, count(*) AS n_features, count(label) AS n_explained
    FROM features GROUP BY sae_id
)
SELECT {_SAE_COLUMNS},
    coalesce(counts.n_features, 0) AS n_features, coalesce(counts.n_explained, 0) AS n_explained
FROM saes s JOIN models m ON m.id = s.model_id LEFT JOIN counts ON counts.sae_id = s.id
ORDER BY s.slug
""")

# One scan of the SAE's features, as arrays; the statistics are computed with numpy.
_FEATURE_COLUMNS = text("""
SELECT coalesce(array_agg(coalesce(frequency, 'NaN')), '{}') AS frequency,
    coalesce(array_agg(coalesce(f1, 'NaN')), '{}') AS f1,
    coalesce(array_agg(label IS NOT NULL), '{}') AS labelled,
    coalesce(array_agg(coalesce(frequency = 0 OR n_active = 0, false)), '{}')
        AS dead
FROM features WHERE sae_id = :sae_id
""")


def find_sae(session: Session, *, slug: str) -> SaeRef | None:
    """The SAE with this slug, or None."""
    row = session.execute(_FIND_SAE, {"slug": slug}).mappings().first()
    return SaeRef.model_validate(dict(row)) if row else None


def list_saes(session: Session) -> SaeList:
    """Every SAE with its feature and label counts."""
    rows = session.execute(_LIST_SAES).mappings().all()
    items = [SaeListItem.model_validate(dict(row)) for row in rows]
    return SaeList(data=items, count=len(items))


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


def _f1_histogram(f1: np.ndarray) -> list[F1Bin]:
    bins = np.clip(np.floor(f1 * F1_BINS), 0, F1_BINS - 1).astype(np.int64)
    counts = np.bincount(bins, minlength=F1_BINS)
    width = 1 / F1_BINS
    return [
        F1Bin(f1_min=round(b * width, 6), f1_max=round((b + 1) * width, 6), count=int(counts[b]))
        for b in range(F1_BINS)
    ]


def _frequency_f1_grid(log_frequency: np.ndarray, f1: np.ndarray) -> list[FrequencyF1Cell]:
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
        FrequencyF1Cell(
            log10_frequency_min=round(lo + (cell // ny) * x_width, 6),
            log10_frequency_max=round(lo + (cell // ny + 1) * x_width, 6),
            f1_min=round((cell % ny) / ny, 6),
            f1_max=round((cell % ny + 1) / ny, 6),
            count=int(counts[cell]),
        )
        for cell in np.nonzero(counts)[0]
    ]


def sae_summary(session: Session, *, sae: SaeRef) -> SaeSummary:
    """Counts, the F1 histogram and the frequency-vs-F1 relation of one SAE."""
    row = session.execute(_FEATURE_COLUMNS, {"sae_id": sae.id}).mappings().one()
    frequency = np.asarray(row["frequency"], dtype=np.float64)
    f1 = np.asarray(row["f1"], dtype=np.float64)
    labelled = np.asarray(row["labelled"], dtype=bool)
    dead = np.asarray(row["dead"], dtype=bool)
    has_f1 = ~np.isnan(f1)
    has_frequency = ~np.isnan(frequency)
    points = labelled & has_f1 & has_frequency & (np.nan_to_num(frequency) > 0)
    log_frequency = np.log10(frequency[points])
    rho = spearman_rho(log_frequency, f1[points])
    return SaeSummary(
        sae=sae,
        n_features=len(f1),
        n_dead=int(dead.sum()),
        n_with_statistics=int(has_frequency.sum()),
        n_explained=int(labelled.sum()),
        n_scored=int((labelled & has_f1).sum()),
        n_f1_above_075=int((f1[has_f1] > 0.75).sum()),
        n_f1_below_05=int((f1[has_f1] < 0.5).sum()),
        mean_f1=float(f1[has_f1].mean()) if has_f1.any() else None,
        median_frequency=float(np.median(frequency[has_frequency]))
        if has_frequency.any()
        else None,
        f1_histogram=_f1_histogram(f1[has_f1]),
        frequency_f1=_frequency_f1_grid(log_frequency, f1[points]),
        spearman_rho=rho,
        n_rho=int(points.sum()),
    )
