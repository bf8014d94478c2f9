"""SAE reads: lookup by slug, the list with headline counts, and summary statistics."""

from __future__ import annotations

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
SELECT {_SAE_COLUMNS},
    (SELECT count(*) FROM features f WHERE f.sae_id = s.id) AS n_features,
    (SELECT count(*) FROM features f WHERE f.sae_id = s.id AND f.label IS NOT NULL)
        AS n_explained
FROM saes s JOIN models m ON m.id = s.model_id
ORDER BY s.slug
""")

_COUNTS = text("""
SELECT count(*) AS n_features,
    count(*) FILTER (WHERE frequency = 0 OR n_active = 0) AS n_dead,
    count(frequency) AS n_with_statistics,
    count(label) AS n_explained,
    count(f1) FILTER (WHERE label IS NOT NULL) AS n_scored,
    count(*) FILTER (WHERE f1 > 0.75) AS n_f1_above_075,
    count(*) FILTER (WHERE f1 < 0.5) AS n_f1_below_05,
    avg(f1) AS mean_f1,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY frequency) AS median_frequency
FROM features WHERE sae_id = :sae_id
""")

_F1_HISTOGRAM = text("""
SELECT least(greatest(width_bucket(f1, 0, 1, :bins), 1), :bins) AS bin, count(*) AS count
FROM features WHERE sae_id = :sae_id AND f1 IS NOT NULL
GROUP BY 1
""")

# Scored live features as (log10 frequency, F1); Spearman's rho is Pearson's r on average ranks.
_POINTS = """
WITH points AS (
    SELECT log(frequency) AS x, f1 AS y FROM features
    WHERE sae_id = :sae_id AND frequency > 0 AND f1 IS NOT NULL AND label IS NOT NULL
)
"""

_SPEARMAN = text(
    _POINTS
    + """,
ranked AS (
    SELECT rank() OVER (ORDER BY x) + (count(*) OVER (PARTITION BY x) - 1) / 2.0 AS rx,
           rank() OVER (ORDER BY y) + (count(*) OVER (PARTITION BY y) - 1) / 2.0 AS ry
    FROM points
)
SELECT corr(rx, ry) AS rho, count(*) AS n FROM ranked
"""
)

_GRID = text(
    _POINTS
    + """,
bounds AS (SELECT floor(min(x)) AS lo, greatest(ceil(max(x)), floor(min(x)) + 1) AS hi FROM points)
SELECT least(width_bucket(x, lo, hi, :nx), :nx) AS bx,
       least(greatest(width_bucket(y, 0, 1, :ny), 1), :ny) AS by,
       count(*) AS count, min(lo) AS lo, min(hi) AS hi
FROM points, bounds
GROUP BY 1, 2
ORDER BY 1, 2
"""
)


def find_sae(session: Session, *, slug: str) -> SaeRef | None:
    """The SAE with this slug, or None."""
    row = session.execute(_FIND_SAE, {"slug": slug}).mappings().first()
    return SaeRef.model_validate(dict(row)) if row else None


def list_saes(session: Session) -> SaeList:
    """Every SAE with its feature and label counts."""
    rows = session.execute(_LIST_SAES).mappings().all()
    items = [SaeListItem.model_validate(dict(row)) for row in rows]
    return SaeList(data=items, count=len(items))


def _f1_histogram(session: Session, sae_id: int) -> list[F1Bin]:
    counts = dict(session.execute(_F1_HISTOGRAM, {"sae_id": sae_id, "bins": F1_BINS}).all())
    width = 1 / F1_BINS
    return [
        F1Bin(
            f1_min=round(b * width, 6),
            f1_max=round((b + 1) * width, 6),
            count=counts.get(b + 1, 0),
        )
        for b in range(F1_BINS)
    ]


def _frequency_f1_grid(session: Session, sae_id: int) -> list[FrequencyF1Cell]:
    params = {"sae_id": sae_id, "nx": GRID_FREQUENCY_BINS, "ny": GRID_F1_BINS}
    cells = []
    for row in session.execute(_GRID, params).mappings():
        x_width = (row["hi"] - row["lo"]) / GRID_FREQUENCY_BINS
        y_width = 1 / GRID_F1_BINS
        cells.append(
            FrequencyF1Cell(
                log10_frequency_min=round(row["lo"] + (row["bx"] - 1) * x_width, 6),
                log10_frequency_max=round(row["lo"] + row["bx"] * x_width, 6),
                f1_min=round((row["by"] - 1) * y_width, 6),
                f1_max=round(row["by"] * y_width, 6),
                count=row["count"],
            )
        )
    return cells


def sae_summary(session: Session, *, sae: SaeRef) -> SaeSummary:
    """Counts, the F1 histogram and the frequency-vs-F1 relation of one SAE."""
    counts = session.execute(_COUNTS, {"sae_id": sae.id}).mappings().one()
    rho = session.execute(_SPEARMAN, {"sae_id": sae.id}).mappings().one()
    return SaeSummary(
        sae=sae,
        **counts,
        f1_histogram=_f1_histogram(session, sae.id),
        frequency_f1=_frequency_f1_grid(session, sae.id),
        spearman_rho=rho["rho"] if rho["n"] >= 3 else None,
        n_rho=rho["n"],
    )
