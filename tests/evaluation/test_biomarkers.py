"""Lesion-volume agreement and clinical correlation against published worked examples and pingouin."""

import math

import numpy as np
import pandas as pd
import pingouin
import pytest
from scipy.stats import spearmanr

from evaluation.biomarkers import (
    Agreement,
    agreement_with_reference,
    bland_altman,
    clinical_correlations,
    correlations_beside_reference,
    icc_agreement,
)
from evaluation.stats import spearman_difference_with_ci, spearman_with_ci

# Shrout & Fleiss (1979), Table 2: six targets rated by four judges; Table 4 gives ICC(2,1) = 0.29.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]

# Bland & Altman (1986): peak expiratory flow (l/min) by the Wright and the mini Wright meter, first reading
# of each of 17 subjects; the paper gives a mean difference of -2.1 and a standard deviation of 38.8, the
# bias's 95% interval -22.0 to 17.8 and a standard error of 16.3 for each limit.
WRIGHT = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
MINI_WRIGHT = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]


def _pingouin_agreement(ratings: np.ndarray) -> pd.Series:
    long = pd.DataFrame(
        [
            (subject, rater, ratings[subject, rater])
            for subject in range(ratings.shape[0])
            for rater in range(2)
        ],
        columns=["case", "rater", "volume"],
    )
    table = pingouin.intraclass_corr(long, targets="case", raters="rater", ratings="volume")
    return table.set_index("Type").loc["ICC(A,1)"]


def test_icc_agreement_is_shrout_and_fleiss_worked_example() -> None:
    result = icc_agreement(SHROUT_FLEISS)

    assert round(result.coefficient, 2) == 0.29
    assert (result.subjects, result.raters) == (6, 4)


def test_icc_agreement_equals_pingouin_on_the_worked_example() -> None:
    long = pd.DataFrame(
        [(target, judge, SHROUT_FLEISS[target][judge]) for target in range(6) for judge in range(4)],
        columns=["target", "judge", "rating"],
    )
    expected = pingouin.intraclass_corr(long, targets="target", raters="judge", ratings="rating")
    row = expected.set_index("Type").loc["ICC(A,1)"]

    result = icc_agreement(SHROUT_FLEISS)

    assert result.coefficient == pytest.approx(row["ICC"], abs=1e-12)
    assert result.f_statistic == pytest.approx(row["F"], rel=1e-12)
    assert result.p_value == pytest.approx(row["pval"], rel=1e-9)
    # pingouin rounds its interval to two decimals.
    assert result.interval == pytest.approx(tuple(row["CI95"]), abs=0.005)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_icc_agreement_of_predicted_and_reference_volumes_equals_pingouin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference_ml = rng.gamma(2.0, 20.0, size=25)
    predicted_ml = reference_ml * rng.normal(0.9, 0.2, size=25) + rng.normal(3.0, 5.0, size=25)
    ratings = np.column_stack([reference_ml, predicted_ml])

    result = icc_agreement(ratings)

    row = _pingouin_agreement(ratings)
    assert result.coefficient == pytest.approx(row["ICC"], abs=1e-12)
    assert result.interval == pytest.approx(tuple(row["CI95"]), abs=0.005)
    assert result.interval[0] < result.coefficient < result.interval[1]


def test_a_constant_offset_lowers_agreement_but_not_consistency() -> None:
    reference_ml = np.array([5.0, 12.0, 30.0, 55.0, 80.0])

    exact = icc_agreement(np.column_stack([reference_ml, reference_ml]))
    shifted = icc_agreement(np.column_stack([reference_ml, reference_ml + 20.0]))

    assert exact.coefficient == pytest.approx(1.0)
    assert shifted.coefficient < 0.9


def test_icc_agreement_drops_cases_without_a_volume_and_refuses_too_few() -> None:
    result = icc_agreement([[1.0, 2.0], [3.0, math.nan], [5.0, 5.5], [8.0, 7.0]])
    assert result.subjects == 3

    with pytest.raises(ValueError, match="at least 2 complete subjects"):
        icc_agreement([[1.0, 2.0], [3.0, math.nan]])
    with pytest.raises(ValueError, match="2 raters or more"):
        icc_agreement([1.0, 2.0, 3.0])


def test_icc_agreement_of_identical_constant_volumes_is_undefined() -> None:
    result = icc_agreement([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])

    assert math.isnan(result.coefficient)
    assert all(math.isnan(bound) for bound in result.interval)


def test_bland_altman_is_the_papers_peak_flow_example() -> None:
    result = bland_altman(MINI_WRIGHT, WRIGHT)

    assert round(result.bias, 1) == -2.1
    assert round(result.sd, 1) == 38.8
    assert result.lower_limit == pytest.approx(result.bias - 1.96 * result.sd)
    assert result.upper_limit == pytest.approx(result.bias + 1.96 * result.sd)
    assert tuple(round(bound, 1) for bound in result.bias_interval) == (-22.0, 17.8)
    t = 2.12  # t with 16 degrees of freedom, as in the paper
    standard_error = (result.upper_limit_interval[1] - result.upper_limit) / t
    assert round(standard_error, 1) == 16.3
    assert result.pairs == 17


def test_bland_altman_of_one_pair_has_a_bias_and_no_limits() -> None:
    result = bland_altman([10.0, math.nan], [12.5, 3.0])

    assert result.bias == 2.5
    assert result.pairs == 1
    assert math.isnan(result.sd)
    assert math.isnan(result.upper_limit)
    with pytest.raises(ValueError, match="at least one complete pair"):
        bland_altman([math.nan], [1.0])


def test_clinical_correlations_pair_cases_by_name_and_skip_scores_with_too_few_pairs() -> None:
    volumes = {"sub-1": 3.0, "sub-2": 20.0, "sub-3": 45.0, "sub-4": 90.0, "sub-5": 11.0}
    clinical = {
        "NIHSS at admission": {"sub-1": 2.0, "sub-2": 9.0, "sub-3": 14.0, "sub-4": 21.0, "sub-9": 40.0},
        "mRS at 90 days": {"sub-1": 1.0, "sub-4": 5.0},
    }

    correlations = clinical_correlations(volumes, clinical, samples=200, seed=0)

    assert list(correlations) == ["NIHSS at admission"]
    expected = spearman_with_ci([3.0, 20.0, 45.0, 90.0], [2.0, 9.0, 14.0, 21.0], samples=200, seed=0)
    assert correlations["NIHSS at admission"] == expected
    assert correlations["NIHSS at admission"].pairs == 4


def test_agreement_with_reference_pairs_cases_by_name_as_icc_and_bland_altman_do() -> None:
    reference = {"sub-1": 10.0, "sub-2": 20.0, "sub-3": 40.0, "sub-9": 7.0}
    measured = {"sub-3": 44.0, "sub-1": 12.0, "sub-2": 21.0, "sub-5": 3.0}

    result = agreement_with_reference(reference, measured)

    assert result.cases == 3
    assert result.icc == icc_agreement([[10.0, 12.0], [20.0, 21.0], [40.0, 44.0]])
    assert result.bland_altman == bland_altman([10.0, 20.0, 40.0], [12.0, 21.0, 44.0])
    one = agreement_with_reference(reference, {"sub-1": 11.0})
    assert one.icc is None
    assert one.bland_altman is not None
    assert one.bland_altman.bias == 1.0
    assert agreement_with_reference(reference, {}) == Agreement(icc=None, bland_altman=None, cases=0)


def test_the_difference_of_correlations_is_the_measured_rho_minus_the_references() -> None:
    rng = np.random.default_rng(3)
    nihss = rng.integers(0, 25, size=30).astype(float)
    reference = nihss * 3.0 + rng.normal(0, 15, size=30)
    measured = reference + rng.normal(0, 25, size=30)

    result = spearman_difference_with_ci(reference, measured, nihss, samples=500, seed=1)

    expected = spearmanr(measured, nihss).statistic - spearmanr(reference, nihss).statistic
    assert result.difference == pytest.approx(expected, abs=1e-12)
    assert result.interval[0] < result.difference < result.interval[1]
    assert result.pairs == 30
    assert result.valid_samples == 500
    same = spearman_difference_with_ci(reference, reference, nihss, samples=200, seed=1)
    assert same.difference == 0.0
    assert same.interval == (0.0, 0.0)


def test_the_difference_of_correlations_refuses_unpaired_or_too_few_values() -> None:
    with pytest.raises(ValueError, match="must be paired, got 3, 2, 3 values"):
        spearman_difference_with_ci([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 3 complete patients, got 2"):
        spearman_difference_with_ci([1.0, 2.0, math.nan], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    constant = spearman_difference_with_ci([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert math.isnan(constant.difference)
    assert constant.valid_samples == 0


def test_correlations_beside_reference_use_the_same_cases_for_both() -> None:
    reference = {"sub-1": 3.0, "sub-2": 20.0, "sub-3": 45.0, "sub-4": 90.0, "sub-5": 11.0}
    measured = {"sub-1": 5.0, "sub-2": 18.0, "sub-3": 60.0, "sub-4": 70.0}
    clinical = {
        "NIHSS at admission": {"sub-1": 2.0, "sub-2": 9.0, "sub-3": 21.0, "sub-4": 14.0, "sub-5": 40.0},
        "mRS at 90 days": {"sub-1": 1.0, "sub-4": 5.0},
    }

    compared = correlations_beside_reference(reference, {"Alpha": measured}, clinical, samples=200, seed=0)

    assert list(compared["Alpha"]) == ["NIHSS at admission"]
    beside = compared["Alpha"]["NIHSS at admission"]
    scores = [2.0, 9.0, 21.0, 14.0]
    assert beside.correlation == spearman_with_ci([5.0, 18.0, 60.0, 70.0], scores, samples=200, seed=0)
    assert beside.reference == spearman_with_ci([3.0, 20.0, 45.0, 90.0], scores, samples=200, seed=0)
    assert beside.reference.pairs == 4  # sub-5 has no measured volume: left out of the reference's too
    assert beside.difference.difference == pytest.approx(
        beside.correlation.coefficient - beside.reference.coefficient
    )


def test_measurements_of_the_same_cases_share_one_bootstrap_and_give_what_each_alone_gives() -> None:
    rng = np.random.default_rng(5)
    cases = [f"sub-{n}" for n in range(12)]
    reference = {case: float(rng.gamma(2.0, 10.0)) for case in cases}
    measurements = {
        name: {case: value * scale for case, value in reference.items()} for name, scale in [("A", 1.1)]
    }
    measurements["B"] = {case: float(rng.gamma(2.0, 10.0)) for case in cases}
    measurements["C"] = {case: measurements["B"][case] for case in cases[:8]}
    clinical = {"NIHSS at admission": {case: float(rng.integers(0, 25)) for case in cases}}

    together = correlations_beside_reference(reference, measurements, clinical, samples=300, seed=2)

    for name, measured in measurements.items():
        alone = correlations_beside_reference(reference, {name: measured}, clinical, samples=300, seed=2)
        assert together[name] == alone[name]
        shared = sorted(measured)
        scores = [clinical["NIHSS at admission"][case] for case in shared]
        beside = together[name]["NIHSS at admission"]
        assert beside.correlation == spearman_with_ci(
            [measured[case] for case in shared], scores, samples=300, seed=2
        )
        assert beside.reference == spearman_with_ci(
            [reference[case] for case in shared], scores, samples=300, seed=2
        )
    assert together["A"]["NIHSS at admission"].difference.difference == 0.0  # a scaled volume ranks the same
    assert together["C"]["NIHSS at admission"].reference.pairs == 8
