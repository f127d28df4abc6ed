"""Subgroup means, their bootstrap intervals and the between-subgroup tests, against numpy and scipy."""

import math

import numpy as np
import pytest
from scipy.stats import kruskal, mannwhitneyu

from evaluation.subgroups import (
    lesion_volume_bin,
    onset_to_imaging_bin,
    subgroup_difference_test,
    subgroup_means,
)


def _dice_by_centre(centres: int, seed: int = 3) -> tuple[dict[str, float], dict[str, str]]:
    rng = np.random.default_rng(seed)
    values, groups = {}, {}
    for number in range(36):
        case = f"sub-stroke{number:04d}"
        centre = number % centres
        values[case] = float(np.clip(rng.normal(0.3 + 0.2 * centre, 0.2), 0.0, 1.0))
        groups[case] = f"centre {centre + 1}"
    return values, groups


def test_subgroup_means_are_the_means_of_each_centres_cases() -> None:
    values, groups = _dice_by_centre(3)

    result = subgroup_means(values, groups, samples=500)

    assert [group.subgroup for group in result] == ["centre 1", "centre 2", "centre 3"]
    for group in result:
        members = [value for case, value in values.items() if groups[case] == group.subgroup]
        assert group.cases == len(members) == 12
        assert group.mean == pytest.approx(float(np.mean(members)), abs=1e-15)
        assert group.interval[0] < group.mean < group.interval[1]


def test_subgroup_interval_is_the_bootstrap_percentile_interval_and_repeats_with_its_seed() -> None:
    values = {"a": 0.1, "b": 0.5, "c": 0.9, "d": 0.3}
    groups = dict.fromkeys(values, "TUM")

    (group,) = subgroup_means(values, groups, samples=2000, seed=7)

    rng = np.random.default_rng(7)
    data = np.array([0.1, 0.5, 0.9, 0.3])
    resampled = data[rng.integers(0, 4, size=(2000, 4))].mean(axis=1)
    assert group.interval == (float(np.quantile(resampled, 0.025)), float(np.quantile(resampled, 0.975)))
    assert subgroup_means(values, groups, samples=2000, seed=7) == (group,)


def test_cases_without_a_subgroup_or_a_value_are_left_out_and_one_case_is_its_own_interval() -> None:
    values = {"a": 0.2, "b": math.nan, "c": 0.6, "d": 0.8}
    groups = {"a": "TUM", "b": "TUM", "c": "", "d": "Zurich"}

    result = subgroup_means(values, groups)

    assert [(group.subgroup, group.cases, group.mean, group.interval) for group in result] == [
        ("TUM", 1, 0.2, (0.2, 0.2)),
        ("Zurich", 1, 0.8, (0.8, 0.8)),
    ]


def test_bins_sort_in_their_natural_order() -> None:
    volumes = {"a": 80.0, "b": 3.0, "c": 25.0, "d": 10.0}
    groups = {case: lesion_volume_bin(volume) for case, volume in volumes.items()}

    result = subgroup_means(volumes, groups)

    assert [group.subgroup for group in result] == ["0-5 ml", "5-20 ml", "20-70 ml", "70+ ml"]


def test_two_subgroups_are_compared_with_scipys_mann_whitney() -> None:
    values, groups = _dice_by_centre(2)

    result = subgroup_difference_test(values, groups)

    first = [value for case, value in values.items() if groups[case] == "centre 1"]
    second = [value for case, value in values.items() if groups[case] == "centre 2"]
    expected = mannwhitneyu(first, second, alternative="two-sided")
    assert result.test == "mann-whitney"
    assert (result.statistic, result.p_value) == (expected.statistic, expected.pvalue)
    assert result.subgroups == 2


def test_three_subgroups_are_compared_with_scipys_kruskal_wallis() -> None:
    values, groups = _dice_by_centre(3)

    result = subgroup_difference_test(values, groups)

    samples = [[value for case, value in values.items() if groups[case] == f"centre {c}"] for c in (1, 2, 3)]
    expected = kruskal(*samples)
    assert result.test == "kruskal-wallis"
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert result.p_value < 0.05  # the centres were drawn 0.2 apart


@pytest.mark.parametrize(
    ("values", "groups"),
    [
        ({"a": 0.5, "b": 0.7}, {"a": "TUM", "b": "TUM"}),
        ({"a": 1.0, "b": 1.0, "c": 1.0}, {"a": "TUM", "b": "Zurich", "c": "Zurich"}),
        ({}, {}),
    ],
    ids=["one subgroup", "every value equal", "no cases"],
)
def test_no_test_runs_where_there_is_nothing_to_compare(
    values: dict[str, float], groups: dict[str, str]
) -> None:
    result = subgroup_difference_test(values, groups)

    assert result.test is None
    assert math.isnan(result.p_value)


@pytest.mark.parametrize(
    ("volume_ml", "expected"),
    [
        (0.0, "0-5 ml"),
        (4.99, "0-5 ml"),
        (5.0, "5-20 ml"),
        (19.9, "5-20 ml"),
        (20.0, "20-70 ml"),
        (70.0, "70+ ml"),
    ],
)
def test_lesion_volume_bins_put_an_edge_in_the_upper_bin(volume_ml: float, expected: str) -> None:
    assert lesion_volume_bin(volume_ml) == expected


def test_onset_to_imaging_bins_and_refusals() -> None:
    assert [onset_to_imaging_bin(hours) for hours in (1.5, 6.0, 23.0, 30.0)] == [
        "0-6 h",
        "6-24 h",
        "6-24 h",
        "24+ h",
    ]
    with pytest.raises(ValueError, match="non-negative"):
        lesion_volume_bin(-1.0)
    with pytest.raises(ValueError, match="non-negative"):
        onset_to_imaging_bin(math.nan)
