"""Clinical correlation and reader-study statistics against scipy and published worked examples."""

import math
import warnings

import numpy as np
import pytest
from scipy.stats import binomtest, spearmanr

from evaluation.stats import bradley_terry, fleiss_kappa, sign_test, spearman_with_ci, wilson_interval

# Fleiss (1971) example as worked on Wikipedia's "Fleiss' kappa" page: 10 subjects, 5 categories, 14 raters;
# P_bar = 0.378, P_e = 0.213, kappa = 0.210.
WIKIPEDIA_RATINGS = [
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
]


def _volumes_and_mrs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    volume_ml = rng.gamma(2.0, 20.0, size=40)
    mrs = np.clip(np.round(volume_ml / 25 + rng.normal(0, 1.2, size=40)), 0, 6)
    return volume_ml, mrs


def test_spearman_coefficient_and_p_value_are_scipys_and_the_interval_surrounds_them():
    volume_ml, mrs = _volumes_and_mrs()

    correlation = spearman_with_ci(volume_ml, mrs, samples=500)

    expected = spearmanr(volume_ml, mrs)
    assert correlation.coefficient == pytest.approx(expected.statistic)
    assert correlation.p_value == pytest.approx(expected.pvalue)
    low, high = correlation.interval
    assert -1.0 <= low < correlation.coefficient < high <= 1.0
    assert (correlation.pairs, correlation.samples, correlation.valid_samples) == (40, 500, 500)


def test_spearman_interval_is_reproducible_by_seed_and_narrows_with_lower_confidence():
    volume_ml, mrs = _volumes_and_mrs()

    first = spearman_with_ci(volume_ml, mrs, samples=300, seed=3)
    again = spearman_with_ci(volume_ml, mrs, samples=300, seed=3)
    narrower = spearman_with_ci(volume_ml, mrs, samples=300, seed=3, confidence=0.5)

    assert first == again
    assert first.interval[0] < narrower.interval[0] < narrower.interval[1] < first.interval[1]


def test_spearman_of_a_perfectly_monotone_relation_is_one_in_every_sample():
    volume_ml = np.arange(1.0, 21.0)

    correlation = spearman_with_ci(volume_ml, volume_ml**3, samples=200)

    assert correlation.coefficient == pytest.approx(1.0)
    assert correlation.interval == pytest.approx((1.0, 1.0))


def test_spearman_drops_patients_without_a_clinical_score():
    volume_ml, mrs = _volumes_and_mrs()
    mrs_with_gaps = mrs.copy()
    mrs_with_gaps[[0, 7]] = np.nan

    correlation = spearman_with_ci(volume_ml, mrs_with_gaps, samples=50)

    assert correlation.pairs == 38
    assert correlation.coefficient == pytest.approx(
        spearmanr(np.delete(volume_ml, [0, 7]), np.delete(mrs, [0, 7])).statistic
    )


def test_spearman_of_a_submission_that_always_predicts_an_empty_mask_is_undefined_without_warnings():
    _, mrs = _volumes_and_mrs()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        correlation = spearman_with_ci(np.zeros(40), mrs)

    assert math.isnan(correlation.coefficient)
    assert all(math.isnan(bound) for bound in correlation.interval)


@pytest.mark.parametrize(
    ("measurements", "clinical_scores", "options", "message"),
    [
        ([1, 2, 3], [1, 2], {}, "must be paired, got 3 and 2"),
        ([1, 2], [3, 4], {}, "at least 3 complete pairs"),
        ([1, 2, 3], [1, 2, 3], {"samples": 0}, "samples must be at least 1"),
        ([1, 2, 3], [1, 2, 3], {"confidence": 0.0}, "confidence must lie strictly between 0 and 1"),
    ],
)
def test_spearman_refuses_unusable_input_with_a_sentence(measurements, clinical_scores, options, message):
    with pytest.raises(ValueError, match=message):
        spearman_with_ci(measurements, clinical_scores, **options)


def test_wilson_interval_of_eight_out_of_ten_is_the_published_value_and_scipys():
    low, high = wilson_interval(8, 10)

    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    expected = binomtest(8, 10).proportion_ci(confidence_level=0.95, method="wilson")
    assert (low, high) == pytest.approx((expected.low, expected.high))


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (10, 10), (3, 7), (1, 1)])
def test_wilson_interval_stays_in_the_unit_interval_and_matches_scipy_at_the_edges(successes, n):
    low, high = wilson_interval(successes, n, confidence=0.9)

    expected = binomtest(successes, n).proportion_ci(confidence_level=0.9, method="wilson")
    assert 0.0 <= low <= successes / n <= high <= 1.0
    assert (low, high) == pytest.approx((expected.low, expected.high))


def test_wilson_interval_refuses_zero_trials_and_impossible_counts():
    with pytest.raises(ValueError, match="at least one trial"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="successes must lie between 0 and n = 5, got 6"):
        wilson_interval(6, 5)


@pytest.mark.parametrize(("successes", "n"), [(9, 10), (5, 10), (0, 6), (14, 20), (1, 1)])
def test_sign_test_is_scipys_two_sided_binomial_test_against_one_half(successes, n):
    assert sign_test(successes, n) == pytest.approx(binomtest(successes, n, 0.5).pvalue)


def test_sign_test_of_only_tied_comparisons_gives_p_one_and_refuses_negative_counts():
    assert sign_test(0, 0) == 1.0
    with pytest.raises(ValueError, match="cannot be negative"):
        sign_test(0, -1)


def test_fleiss_kappa_reproduces_the_wikipedia_worked_example():
    assert fleiss_kappa(WIKIPEDIA_RATINGS) == pytest.approx(0.2099, abs=5e-4)


def test_fleiss_kappa_is_one_for_perfect_agreement_and_undefined_when_one_category_takes_every_rating():
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)
    assert math.isnan(fleiss_kappa([[4, 0], [4, 0]]))


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([[2, 1], [1, 1]], "same number of ratings"),
        ([[1, 0], [0, 1]], "at least two ratings"),
        ([[-1, 3], [1, 1]], "non-negative whole numbers"),
        ([1, 2, 3], "subjects x categories"),
    ],
)
def test_fleiss_kappa_refuses_unusable_tables_with_a_sentence(counts, message):
    with pytest.raises(ValueError, match=message):
        fleiss_kappa(counts)


def test_bradley_terry_of_two_items_is_the_square_root_of_the_win_ratio():
    strengths = bradley_terry([[0, 3], [1, 0]])

    # p1 / p2 = 3 / 1 and p1 * p2 = 1.
    assert strengths == pytest.approx((math.sqrt(3), 1 / math.sqrt(3)))


def test_bradley_terry_strengths_solve_the_score_equations_with_geometric_mean_one():
    wins = np.array([[0, 4, 6, 3], [2, 0, 5, 1], [1, 3, 0, 2], [2, 4, 3, 0]], dtype=float)

    strengths = np.array(bradley_terry(wins))

    comparisons = wins + wins.T
    expected_wins = np.sum(
        comparisons * strengths[:, None] / (strengths[:, None] + strengths[None, :]), axis=1
    )
    assert expected_wins == pytest.approx(wins.sum(axis=1), abs=1e-8)
    assert np.prod(strengths) == pytest.approx(1.0)
    assert list(np.argsort(-strengths)) == [0, 3, 1, 2]


@pytest.mark.parametrize(
    ("wins", "message"),
    [
        ([[0, 2, 1], [3, 0, 1], [0, 0, 0]], "item 2 never wins"),
        ([[0, 2, 1], [0, 0, 1], [0, 1, 0]], "item 0 never loses"),
        ([[0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 0, 1], [0, 0, 1, 0]], "split into groups"),
        ([[0, 1], [0, 0]], "never wins"),
        ([[1, 1], [1, 0]], "diagonal"),
        ([[0, 1, 2]], "square matrix"),
    ],
)
def test_bradley_terry_refuses_matrices_without_finite_strengths(wins, message):
    with pytest.raises(ValueError, match=message):
        bradley_terry(wins)
