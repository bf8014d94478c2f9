"""Review statistics against published worked examples, and their bootstrap intervals."""

import numpy as np
import pytest

from app.services.review import statistics as st

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, values 1-5, missing data. Published: nominal .743, ordinal .815, interval .849.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)
# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories; kappa 0.210.
FLEISS_WIKIPEDIA = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ],
    dtype=float,
)
# Fleiss (1971) psychiatric diagnoses: 30 patients, 6 raters each, 5 categories, as in R's
# irr::diagnoses; published kappa .430 (irr::kappam.fleiss prints 0.4302445).
FLEISS_1971 = np.array(
    [
        [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
    ]
)  # fmt: skip
# SAS/STAT PROC FREQ agreement example (3 x 3): weighted kappa with Cicchetti-Allison (linear)
# weights 0.4701.
SAS_TABLE = np.array([[0, 4, 1], [0, 8, 0], [0, 1, 5]], dtype=float)
# R irr::anxiety, raters 2 and 3 (levels 1, 2, 3, 4, 6 observed): irr::kappa2 gives 0.1459075
# with "equal" (linear) weights and 0.2520325 with "squared" weights.
ANXIETY_2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
ANXIETY_3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]
# Wikipedia, "Spearman's rank correlation coefficient": IQ and hours of TV; rho = -29/165.
IQ = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110]
TV = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17]


def _long(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit, reviewer, rating) arrays of a reviewers x units matrix with NaN for missing."""
    reviewer, unit = np.nonzero(~np.isnan(matrix))
    return unit, reviewer, matrix[reviewer, unit].astype(int)


def test_krippendorff_alpha_ordinal_matches_the_2011_worked_example() -> None:
    unit, _, rating = _long(KRIPPENDORFF_2011)
    counts = st.unit_value_counts(unit, rating, 12)
    assert st.krippendorff_alpha(counts) == pytest.approx(0.8153875, abs=1e-7)
    pairable = counts[counts.sum(1) >= 2]
    ones = np.ones((pairable.shape[0], 1))
    assert st.alpha_replicates(pairable, ones)[0] == pytest.approx(0.8153875, abs=1e-7)


def test_alpha_replicates_equal_the_package_on_resampled_data() -> None:
    unit, _, rating = _long(KRIPPENDORFF_2011)
    counts = st.unit_value_counts(unit, rating, 12)
    pairable = counts[counts.sum(1) >= 2]
    weights = st.bootstrap_weights(pairable.shape[0], 5, np.random.default_rng(3))
    fast = st.alpha_replicates(pairable, weights)
    for b in range(5):
        resampled = np.repeat(pairable, weights[:, b].astype(int), axis=0)
        assert fast[b] == pytest.approx(st.krippendorff_alpha(resampled), abs=1e-12)


def test_bootstrap_weights_draw_every_replicate_to_full_size() -> None:
    weights = st.bootstrap_weights(7, 50, np.random.default_rng(0))
    assert weights.shape == (7, 50)
    assert (weights.sum(0) == 7).all()
    assert len({tuple(column) for column in weights.T}) > 1


def test_fleiss_kappa_matches_wikipedia_and_fleiss_1971() -> None:
    assert st.fleiss_kappa(FLEISS_WIKIPEDIA) == pytest.approx(0.2099307, abs=1e-7)
    diagnoses = np.stack([(c == FLEISS_1971).sum(1) for c in range(1, 6)], axis=1)
    assert st.fleiss_kappa(diagnoses.astype(float)) == pytest.approx(0.4302445, abs=1e-7)
    ones = np.ones((10, 1))
    assert st.fleiss_replicates(FLEISS_WIKIPEDIA, ones)[0] == pytest.approx(0.2099307, abs=1e-7)


def test_fleiss_kappa_takes_items_with_different_numbers_of_answers() -> None:
    counts = np.array([[2, 0, 0], [3, 0, 0], [0, 2, 1], [1, 1, 0]], dtype=float)
    p_i = np.array([1, 1, 1 / 3, 0])
    p_j = np.array([6, 3, 1]) / 10
    expected = (p_i.mean() - (p_j**2).sum()) / (1 - (p_j**2).sum())
    assert st.fleiss_kappa(counts) == pytest.approx(expected)


def test_weighted_kappa_matches_sas_and_irr() -> None:
    assert st.weighted_kappa_tables(SAS_TABLE, "linear") == pytest.approx(0.4701195, abs=1e-7)
    levels = [1, 2, 3, 4, 6]
    table = np.zeros((5, 5))
    np.add.at(table, (np.searchsorted(levels, ANXIETY_2), np.searchsorted(levels, ANXIETY_3)), 1)
    assert st.weighted_kappa_tables(table, "linear") == pytest.approx(0.1459075, abs=1e-7)
    assert st.weighted_kappa_tables(table, "quadratic") == pytest.approx(0.2520325, abs=1e-7)


def test_pairwise_kappa_covers_each_pair_on_its_shared_items() -> None:
    a = [1, 2, 3, 4, 5, 2, 3]
    b = [1, 2, 4, 4, 5, 3, 3]
    c = [5, NAN, NAN, NAN, NAN, NAN, 1]
    unit, reviewer, rating = _long(np.array([a, b, c], dtype=float))
    reviewer = reviewer + 10
    weights = st.bootstrap_weights(7, 200, np.random.default_rng(0))
    pairs = st.pairwise_kappa(unit, reviewer, rating, weights, "quadratic")
    assert [(p.reviewer_a, p.reviewer_b, p.kappa.n) for p in pairs] == [
        (10, 11, 7),
        (10, 12, 2),
        (11, 12, 2),
    ]
    table = np.zeros((5, 5))
    np.add.at(table, (np.array(a) - 1, np.array(b) - 1), 1)
    first = pairs[0].kappa
    assert first.estimate == pytest.approx(st.weighted_kappa_tables(table, "quadratic"))
    assert first.low is not None and first.high is not None
    assert first.low <= first.estimate <= first.high < 1.0 + 1e-12
    assert pairs[1].kappa.estimate == pytest.approx(-2 / 3)


def test_spearman_matches_the_wikipedia_example_and_handles_ties() -> None:
    weights = st.bootstrap_weights(10, 300, np.random.default_rng(0))
    rho = st.spearman(np.array(IQ, float), np.array(TV, float), weights)
    assert rho.estimate == pytest.approx(-29 / 165)
    assert rho.low is not None and rho.high is not None and rho.low < -29 / 165 < rho.high
    tied = st.spearman(np.array([1.0, 2, 2, 3]), np.array([1.0, 3, 2, 4]), weights[:4])
    expected = np.corrcoef([1, 2.5, 2.5, 4], [1, 3, 2, 4])[0, 1]
    assert tied.estimate == pytest.approx(expected)


def test_decoy_acceptance_counts_ratings_of_four_and_five() -> None:
    reviewer = np.array([1, 1, 1, 2, 2, 3])
    rating = np.array([4, 2, 5, 1, 5, 5])
    is_decoy = np.array([True, True, False, True, True, False])
    rows = st.decoy_acceptance(reviewer, rating, is_decoy)
    assert [(r.reviewer, r.accepted, r.n, r.share) for r in rows] == [
        (1, 1, 2, 0.5),
        (2, 1, 2, 0.5),
    ]


def test_most_disputed_orders_by_variance_then_range_then_count() -> None:
    unit = np.array([0, 0, 1, 1, 2, 2, 2, 3, 4, 4, 4, 4])
    rating = np.array([1, 5, 3, 3, 1, 3, 5, 2, 2, 4, 2, 4])
    disputed = st.most_disputed(unit, rating, limit=3)
    assert [(d.unit, d.n, d.spread) for d in disputed] == [(0, 2, 4), (2, 3, 4), (4, 4, 2)]
    assert disputed[0].variance == pytest.approx(4.0)
    assert disputed[1].variance == pytest.approx(8 / 3)


def test_summarise_keeps_decoys_out_of_agreement() -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(1, 6, 60)
    unit = np.repeat(np.arange(60), 3)
    reviewer = np.tile([7, 8, 9], 60)
    rating = truth[unit].copy()
    is_decoy = np.zeros(60, bool)
    is_decoy[50:] = True
    rating[unit >= 50] = np.where(reviewer[unit >= 50] == 7, 5, 1)
    meaningful = np.where(truth[unit] >= 3, 0, 1)
    f1 = truth / 5.0
    ratings = st.Ratings(unit, reviewer, rating, meaningful, is_decoy, f1)
    summary = st.summarise(ratings, n_boot=200, seed=1)
    assert summary.n_ratings == 180
    assert summary.alpha.estimate == pytest.approx(1.0)
    assert summary.alpha.n == 50
    assert summary.fleiss.estimate == pytest.approx(1.0)
    assert all(p.kappa.estimate == pytest.approx(1.0) for p in summary.kappa)
    assert summary.rating_vs_f1.estimate == pytest.approx(1.0)
    assert [(p.unit, p.mean, p.n, p.f1) for p in summary.rating_f1_pairs] == [
        (u, truth[u], 3, truth[u] / 5.0) for u in range(50)
    ]
    assert [(d.reviewer, d.share) for d in summary.decoys] == [(7, 1.0), (8, 0.0), (9, 0.0)]
    assert summary.disputed == []


def test_summarise_pairs_each_rated_scored_real_item_with_its_f1() -> None:
    unit = np.array([0, 0, 1, 2, 2, 3, 3, 3])
    rating = np.array([2, 4, 5, 5, 5, 1, 1, 4])
    is_decoy = np.array([False, False, True, False])  # item 2 is a decoy
    f1 = np.array([0.3, NAN, 0.6, 0.9])  # item 1's label has no F1
    ratings = st.Ratings(unit, np.arange(8), rating, np.full(8, -1), is_decoy, f1)
    summary = st.summarise(ratings, n_boot=20)
    assert summary.rating_f1_pairs == [st.RatedUnit(0, 3.0, 2, 0.3), st.RatedUnit(3, 2.0, 3, 0.9)]
    assert summary.rating_vs_f1.n == 2


def test_summarise_interval_brackets_noisy_agreement() -> None:
    rng = np.random.default_rng(2)
    truth = rng.integers(1, 6, 300)
    unit = np.repeat(np.arange(300), 2)
    reviewer = np.tile([1, 2], 300)
    rating = np.clip(truth[unit] + rng.integers(-1, 2, 600), 1, 5)
    ratings = st.Ratings(
        unit, reviewer, rating, np.full(600, -1), np.zeros(300, bool), np.full(300, np.nan)
    )
    summary = st.summarise(ratings, n_boot=300, seed=0)
    alpha = summary.alpha
    assert alpha.low is not None and alpha.high is not None
    assert 0.3 < alpha.low < alpha.estimate < alpha.high < 0.95
    assert summary.fleiss.estimate is None
    assert summary.rating_vs_f1.estimate is None
    assert summary.disputed[0].spread == 2


def test_summarise_without_ratings_is_all_undefined() -> None:
    empty = np.array([], dtype=np.int64)
    ratings = st.Ratings(empty, empty, empty, empty, np.zeros(4, bool), np.full(4, np.nan))
    summary = st.summarise(ratings, n_boot=50)
    assert summary.n_ratings == 0
    assert summary.alpha == st.Interval(None, None, None, 0)
    assert summary.fleiss.estimate is None and summary.rating_vs_f1.estimate is None
    assert summary.kappa == [] and summary.decoys == [] and summary.disputed == []
