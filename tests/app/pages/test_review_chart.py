"""The rating-vs-F1 chart of a campaign's results: where its dots go and what it says."""

from __future__ import annotations

from app.pages import review_chart
from app.pages.charts import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH
from app.schemas.review import CampaignStats, Estimate, RatingVsF1


def _stats(points: list[RatingVsF1], rho: Estimate) -> CampaignStats:
    undefined = Estimate(estimate=None, low=None, high=None, n=0)
    return CampaignStats(
        campaign_id=1,
        n_ratings=2 * len(points),
        bootstrap_replicates=200,
        kappa_weights="quadratic",
        krippendorff_alpha=undefined,
        pairwise_kappa=[],
        fleiss_kappa=undefined,
        decoy_acceptance=[],
        rating_vs_f1=rho,
        rating_vs_f1_points=points,
        disputed=[],
    )


def test_one_dot_per_feature_at_its_mean_rating_and_f1() -> None:
    points = [
        RatingVsF1(feature_index=7, mean_rating=1.0, n_ratings=2, f1=0.0),
        RatingVsF1(feature_index=9, mean_rating=5.0, n_ratings=3, f1=1.0),
        RatingVsF1(feature_index=4, mean_rating=3.0, n_ratings=1, f1=0.5),
    ]
    rho = Estimate(estimate=0.5, low=-0.25, high=0.875, n=3)
    chart = review_chart.rating_vs_f1_chart(_stats(points, rho))
    assert chart is not None
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    assert [(dot.x, dot.y) for dot in chart.dots] == [
        (left, bottom),
        (right, top),
        ((left + right) / 2, (top + bottom) / 2),
    ]
    assert chart.dots[0].title == "Feature 7: mean rating 1.00 (2 ratings), F1 0.00"
    assert [tick.label for tick in chart.x_ticks] == ["1", "2", "3", "4", "5"]
    assert [tick.label for tick in chart.y_ticks] == ["0", "0.25", "0.5", "0.75", "1"]
    assert chart.summary == "Spearman's rho 0.50 (95% interval -0.25 to 0.88) over 3 features."
    assert "F1" in chart.y_label and "rating" in chart.x_label and chart.marks == []


def test_no_points_no_chart_and_many_points_are_thinned_evenly() -> None:
    undefined = Estimate(estimate=None, low=None, high=None, n=0)
    assert review_chart.rating_vs_f1_chart(_stats([], undefined)) is None
    many = [
        RatingVsF1(feature_index=i, mean_rating=1 + i % 5, n_ratings=1, f1=(i % 100) / 100)
        for i in range(review_chart.MAX_DOTS * 2 + 1)
    ]
    chart = review_chart.rating_vs_f1_chart(_stats(many, undefined))
    assert chart is not None
    assert len(chart.dots) == 1 + 2 * review_chart.MAX_DOTS // 3
    assert chart.dots[1].title.startswith("Feature 3:")
    assert chart.summary == "Spearman's rho is not yet defined (0 features)."
