"""What a campaign has produced: progress, agreement statistics and the export of all ratings.

Reviewers appear as pseudonyms R1, R2, ... (numbered by user id, stable within a campaign)
unless the caller (an admin) asks for identities, which are the user ids as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.schemas.review import (
    CampaignProgress,
    CampaignStats,
    DecoyCheck,
    DisputedFeature,
    Estimate,
    ExportRow,
    PairAgreement,
    RatingVsF1,
    ReviewerProgress,
)
from app.services.review import statistics
from app.services.review.campaigns import get_campaign
from app.services.review.queue import open_positions
from db.labels import PRIMARY_SCORE_KIND, PRIMARY_SCORE_SPLIT


def reviewer_names(session: Session, campaign_id: int, *, identify: bool) -> dict[int, str]:
    """Display name of every reviewer who answered in the campaign."""
    ids = session.scalars(
        text("SELECT DISTINCT reviewer_id FROM ratings WHERE campaign_id = :c ORDER BY 1"),
        {"c": campaign_id},
    ).all()
    return {r: str(r) if identify else f"R{n}" for n, r in enumerate(ids, 1)}


def campaign_progress(
    session: Session, campaign_id: int, *, identify: bool = False
) -> CampaignProgress:
    """Ratings so far, overall and per reviewer, and what remains."""
    campaign = get_campaign(session, campaign_id)
    names = reviewer_names(session, campaign_id, identify=identify)
    per_reviewer = dict.fromkeys(names, (0, 0))
    for reviewer, rated, skipped in session.execute(
        text(
            "SELECT reviewer_id, count(*) FILTER (WHERE NOT skipped), count(*) FILTER "
            "(WHERE skipped) FROM ratings WHERE campaign_id = :c GROUP BY reviewer_id"
        ),
        {"c": campaign_id},
    ):
        per_reviewer[reviewer] = (rated, skipped)
    n_reviewers = len(names)
    complete = session.scalar(
        text(
            "SELECT count(*) FROM campaign_items WHERE campaign_id = :c AND "
            "n_ratings >= CASE WHEN is_overlap THEN greatest(:n, 1) ELSE :k END"
        ),
        {"c": campaign_id, "n": n_reviewers, "k": campaign.reviewers_per_feature},
    )
    reviewers = [
        ReviewerProgress(
            reviewer=names[r],
            rated=rated,
            skipped=skipped,
            remaining=int(open_positions(session, campaign_id, r).size),
        )
        for r, (rated, skipped) in per_reviewer.items()
    ]
    return CampaignProgress(
        campaign_id=campaign_id,
        n_items=campaign.n_items,
        ratings=sum(rated for rated, _ in per_reviewer.values()),
        items_complete=complete,
        items_remaining=campaign.n_items - complete,
        reviewers=reviewers,
    )


_STATS_ROWS = text(
    """
    SELECT coalesce(array_agg(i.position), '{}'), coalesce(array_agg(r.reviewer_id), '{}'),
           coalesce(array_agg(r.rating), '{}'),
           coalesce(array_agg(CASE r.meaningful WHEN 'yes' THEN 0 WHEN 'no' THEN 1
                                                WHEN 'unsure' THEN 2 ELSE -1 END), '{}')
    FROM ratings AS r JOIN campaign_items AS i ON i.id = r.item_id
    WHERE r.campaign_id = :c AND NOT r.skipped
    """
)
_ITEMS = text(
    f"""
    SELECT i.position, i.id, i.feature_index, i.is_decoy, e.text, s.f1
    FROM campaign_items AS i
    JOIN explanations AS e ON e.id = i.explanation_id
    LEFT JOIN scores AS s ON s.explanation_id = e.id
        AND s.kind = '{PRIMARY_SCORE_KIND}' AND s.split = '{PRIMARY_SCORE_SPLIT}'
    WHERE i.campaign_id = :c ORDER BY i.position
    """
)

_VERDICTS = text("SELECT feature_index, verdict FROM adjudications WHERE campaign_id = :c")


def _estimate(interval: statistics.Interval) -> Estimate:
    return Estimate(estimate=interval.estimate, low=interval.low, high=interval.high, n=interval.n)


def campaign_stats(
    session: Session,
    campaign_id: int,
    *,
    n_boot: int = 1000,
    weighting: statistics.Weighting = "quadratic",
    disputed_limit: int = 20,
    identify: bool = False,
) -> CampaignStats:
    """Agreement (alpha, pairwise kappa, Fleiss), decoy acceptance, rating vs F1, disputes."""
    get_campaign(session, campaign_id)
    names = reviewer_names(session, campaign_id, identify=identify)
    unit, reviewer, rating, meaningful = (
        np.array(column, dtype=np.int64)
        for column in session.execute(_STATS_ROWS, {"c": campaign_id}).one()
    )
    items = [tuple(row) for row in session.execute(_ITEMS, {"c": campaign_id})]
    verdicts = {index: verdict for index, verdict in session.execute(_VERDICTS, {"c": campaign_id})}
    ratings = statistics.Ratings(
        unit=unit,
        reviewer=reviewer,
        rating=rating,
        meaningful=meaningful,
        is_decoy=np.array([row[3] for row in items], dtype=bool),
        f1=np.array([np.nan if row[5] is None else row[5] for row in items], dtype=float),
    )
    summary = statistics.summarise(
        ratings, n_boot=n_boot, seed=campaign_id, weighting=weighting,
        disputed_limit=disputed_limit,
    )  # fmt: skip
    return CampaignStats(
        campaign_id=campaign_id,
        n_ratings=summary.n_ratings,
        bootstrap_replicates=n_boot,
        kappa_weights=weighting,
        krippendorff_alpha=_estimate(summary.alpha),
        pairwise_kappa=[
            PairAgreement(
                reviewer_a=names[p.reviewer_a],
                reviewer_b=names[p.reviewer_b],
                kappa=_estimate(p.kappa),
            )
            for p in summary.kappa
        ],
        fleiss_kappa=_estimate(summary.fleiss),
        decoy_acceptance=[
            DecoyCheck(reviewer=names[d.reviewer], accepted=d.accepted, n=d.n, share=d.share)
            for d in summary.decoys
        ],
        rating_vs_f1=_estimate(summary.rating_vs_f1),
        rating_vs_f1_points=[
            RatingVsF1(feature_index=items[p.unit][2], mean_rating=p.mean, n_ratings=p.n, f1=p.f1)
            for p in summary.rating_f1_pairs
        ],
        disputed=[
            DisputedFeature(
                item_id=items[d.unit][1],
                feature_index=items[d.unit][2],
                label=items[d.unit][4],
                n=d.n,
                mean=d.mean,
                variance=d.variance,
                spread=d.spread,
                adjudication=None if items[d.unit][3] else verdicts.get(items[d.unit][2]),
            )
            for d in summary.disputed
        ],
    )


_EXPORT = text(
    """
    SELECT i.campaign_id, i.id AS item_id, i.feature_index, e.text AS label,
           e.source_key AS label_source, i.is_decoy, i.decoy_source_index, i.is_overlap,
           r.reviewer_id, r.rating, r.meaningful, r.category, r.corrected_label, r.comment,
           r.skipped, r.created_at, r.updated_at
    FROM ratings AS r
    JOIN campaign_items AS i ON i.id = r.item_id
    JOIN explanations AS e ON e.id = i.explanation_id
    WHERE r.campaign_id = :c
    ORDER BY i.position, r.reviewer_id
    """
)


def export_rows(session: Session, campaign_id: int, *, identify: bool = False) -> list[ExportRow]:
    """Every rating and skip of the campaign, by item then reviewer."""
    get_campaign(session, campaign_id)
    names = reviewer_names(session, campaign_id, identify=identify)
    return [
        ExportRow.model_validate({**row, "reviewer": names[row["reviewer_id"]]})
        for row in session.execute(_EXPORT, {"c": campaign_id}).mappings()
    ]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (OWASP advice)."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def export_csv(rows: Sequence[ExportRow]) -> str:
    """The rows as CSV with a header (timestamps in ISO 8601)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ExportRow.model_fields))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.model_dump(mode="json").items()})
    return buffer.getvalue()
