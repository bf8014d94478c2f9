"""The campaign results chart: each feature's mean rating against its label's detection F1."""

from __future__ import annotations

import math

from app.pages.charts import Chart, scatter
from app.schemas.review import CampaignStats, Estimate

MAX_DOTS = 2000
"""More features than this are drawn as an evenly spaced subset (the JSON has them all)."""


def _rho_in_words(rho: Estimate) -> str:
    if rho.estimate is None:
        return f"Spearman's rho is not yet defined ({rho.n} features)."
    interval = (
        ""
        if rho.low is None or rho.high is None
        else f" (95% interval {rho.low:.2f} to {rho.high:.2f})"
    )
    return f"Spearman's rho {rho.estimate:.2f}{interval} over {rho.n:,} features."


def rating_vs_f1_chart(stats: CampaignStats) -> Chart | None:
    """A scatter of mean rating (1–5) against F1 (0–1), one dot per rated feature whose label
    has an F1; None when there is none yet."""
    points = stats.rating_vs_f1_points
    if not points:
        return None
    step = math.ceil(len(points) / MAX_DOTS)
    return scatter(
        [
            (
                p.mean_rating,
                p.f1,
                f"Feature {p.feature_index}: mean rating {p.mean_rating:.2f} "
                f"({p.n_ratings} ratings), F1 {p.f1:.2f}",
            )
            for p in points[::step]
        ],
        x_range=(1, 5),
        y_range=(0, 1),
        x_ticks=[1, 2, 3, 4, 5],
        y_ticks=[0, 0.25, 0.5, 0.75, 1],
        description="Mean reviewer rating against the label's detection F1, one dot per feature.",
        summary=_rho_in_words(stats.rating_vs_f1),
        x_label="mean rating (1 wrong … 5 exact)",
        y_label="label detection F1",
    )
