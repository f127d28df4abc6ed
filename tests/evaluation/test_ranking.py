"""Rankings, bootstrap rank stability and pairwise tests on small tables whose answers are worked out here."""

import math

import numpy as np
import pytest
from scipy.stats import kendalltau, wilcoxon

from evaluation.ranking import (
    RankedMetric,
    aggregate_then_rank,
    bootstrap_rank_stability,
    holm_adjust,
    pairwise_wilcoxon,
    rank_then_aggregate,
)

DICE = RankedMetric("dice", higher_is_better=True, worst=0.0)
VOLUME = RankedMetric("absolute_volume_difference_ml", higher_is_better=False)

# Three submissions, three cases; a tie on Dice in c1, a tie on volume in c2, and C has no prediction for c3.
#            dice ranks (c1, c2, c3)   volume ranks (c1, c2, c3)   case means (c1, c2, c3)
#   A        1.5, 3,   1               1, 3,   2                   1.25, 3,    1.5   -> score 5.75 / 3
#   B        1.5, 2,   2               2, 1.5, 1                   1.75, 1.75, 1.5   -> score 5 / 3
#   C        3,   1,   3 (missing)     3, 1.5, 3 (missing)         3,    1.25, 3     -> score 7.25 / 3
WORKED_TABLE = {
    "A": {
        "c1": {"dice": 0.8, "absolute_volume_difference_ml": 1.0},
        "c2": {"dice": 0.5, "absolute_volume_difference_ml": 5.0},
        "c3": {"dice": 0.6, "absolute_volume_difference_ml": 2.0},
    },
    "B": {
        "c1": {"dice": 0.8, "absolute_volume_difference_ml": 2.0},
        "c2": {"dice": 0.7, "absolute_volume_difference_ml": 4.0},
        "c3": {"dice": 0.4, "absolute_volume_difference_ml": 1.0},
    },
    "C": {
        "c1": {"dice": 0.6, "absolute_volume_difference_ml": 3.0},
        "c2": {"dice": 0.9, "absolute_volume_difference_ml": 4.0},
    },
}


def test_rank_then_aggregate_matches_the_worked_example_with_ties_and_a_missing_case():
    ranking = rank_then_aggregate(WORKED_TABLE, [DICE, VOLUME])

    assert [(entry.submission_id, entry.rank) for entry in ranking.entries] == [("B", 1), ("A", 2), ("C", 3)]
    assert ranking.for_submission("A").score == pytest.approx(5.75 / 3)
    assert ranking.for_submission("B").score == pytest.approx(5 / 3)
    assert ranking.for_submission("C").score == pytest.approx(7.25 / 3)
    assert ranking.for_submission("A").metric_ranks == pytest.approx(
        {"dice": 5.5 / 3, "absolute_volume_difference_ml": 2.0}
    )
    assert ranking.cases == ("c1", "c2", "c3")


def test_submissions_missing_a_case_share_the_last_ranks_and_nan_counts_as_missing():
    table = {
        "A": {"c1": {"dice": 0.7}},
        "B": {"c1": {"dice": float("nan")}},
        "C": {},
    }

    ranking = rank_then_aggregate(table, [DICE])

    assert ranking.for_submission("A").score == 1.0
    assert ranking.for_submission("B").score == 2.5
    assert ranking.for_submission("C").score == 2.5


def test_a_case_no_submission_scored_counts_when_the_case_list_is_given():
    table = {"A": {"c1": {"dice": 0.9}}, "B": {"c1": {"dice": 0.5}, "c2": {"dice": 0.1}}}

    by_scored_cases = rank_then_aggregate(table, [DICE], cases=["c1"])
    by_all_cases = rank_then_aggregate(table, [DICE], cases=["c1", "c2", "c3"])

    assert by_scored_cases.entries[0].submission_id == "A"
    # c2: B 1, A 2; c3: both missing, 1.5 each -> A (1 + 2 + 1.5) / 3 = 1.5, B (2 + 1 + 1.5) / 3 = 1.5.
    assert [(entry.submission_id, entry.rank) for entry in by_all_cases.entries] == [("A", 1), ("B", 1)]


def test_tied_scores_share_the_smallest_final_rank():
    table = {name: {"c1": {"dice": value}} for name, value in zip("ABCD", [0.9, 0.5, 0.5, 0.1], strict=True)}

    ranking = rank_then_aggregate(table, [DICE])

    assert [entry.rank for entry in ranking.entries] == [1, 2, 2, 4]
    assert [entry.submission_id for entry in ranking.entries] == ["A", "B", "C", "D"]


def test_aggregate_then_rank_can_reverse_rank_then_aggregate_when_one_case_fails():
    # A wins two cases of three but fails the third; B is steady.
    table = {
        "A": {"c1": {"dice": 0.9}, "c2": {"dice": 0.9}, "c3": {"dice": 0.0}},
        "B": {"c1": {"dice": 0.8}, "c2": {"dice": 0.8}, "c3": {"dice": 0.8}},
    }

    per_case = rank_then_aggregate(table, [DICE])
    per_mean = aggregate_then_rank(table, [DICE])

    assert [entry.submission_id for entry in per_case.entries] == ["A", "B"]
    assert per_case.for_submission("A").score == pytest.approx(4 / 3)
    assert [entry.submission_id for entry in per_mean.entries] == ["B", "A"]
    assert per_mean.for_submission("B").metric_ranks == {"dice": 1.0}


def test_aggregate_then_rank_averages_the_metric_ranks_and_fills_missing_cases_with_the_worst_value():
    volume_with_worst = RankedMetric("absolute_volume_difference_ml", higher_is_better=False, worst=100.0)

    ranking = aggregate_then_rank(WORKED_TABLE, [DICE, volume_with_worst])

    # Dice means: A 0.6333, B 0.6333, C (0.6 + 0.9 + 0) / 3 = 0.5 -> A 1.5, B 1.5, C 3.
    # Volume means: A 8 / 3, B 7 / 3, C 107 / 3 -> B 1, A 2, C 3.
    assert ranking.for_submission("A").score == pytest.approx(1.75)
    assert ranking.for_submission("B").score == pytest.approx(1.25)
    assert ranking.for_submission("C").score == pytest.approx(3.0)
    assert [entry.rank for entry in ranking.entries] == [1, 2, 3]


def test_aggregate_then_rank_refuses_a_missing_value_without_a_worst_value():
    with pytest.raises(ValueError, match="submission 'C' has no 'absolute_volume_difference_ml' value"):
        aggregate_then_rank(WORKED_TABLE, [DICE, VOLUME])


@pytest.mark.parametrize(
    ("scores", "metrics", "message"),
    [
        ({}, [DICE], "no submissions"),
        ({"A": {"c1": {"dice": 1.0}}}, [], "at least one metric"),
        ({"A": {"c1": {"dice": 1.0}}}, [DICE, DICE], "unique"),
        ({"A": {}}, [DICE], "no cases"),
    ],
)
def test_rankings_refuse_unusable_input_with_a_sentence(scores, metrics, message):
    with pytest.raises(ValueError, match=message):
        rank_then_aggregate(scores, metrics)


def _random_table(submissions: int, cases: int, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    rng = np.random.default_rng(seed)
    skill = np.linspace(0.4, 0.8, submissions)
    return {
        f"s{s:02d}": {
            f"case{c:03d}": {
                "dice": float(np.clip(skill[s] + rng.normal(0, 0.2), 0, 1)),
                "absolute_volume_difference_ml": float(abs(rng.normal(10 * (1 - skill[s]), 3))),
            }
            for c in range(cases)
        }
        for s in range(submissions)
    }


def test_bootstrap_is_reproducible_with_a_seed_and_changes_with_another():
    table = _random_table(submissions=5, cases=20, seed=1)

    first = bootstrap_rank_stability(table, [DICE, VOLUME], samples=200, seed=7)
    again = bootstrap_rank_stability(table, [DICE, VOLUME], samples=200, seed=7)
    other = bootstrap_rank_stability(table, [DICE, VOLUME], samples=200, seed=8)

    assert first == again
    assert first.sample_ranks != other.sample_ranks
    assert all(sum(row.rank_counts) == 200 for row in first.submissions)


def test_bootstrap_kendall_tau_agrees_with_scipy_on_every_sample():
    table = _random_table(submissions=6, cases=15, seed=2)

    stability = bootstrap_rank_stability(table, [DICE, VOLUME], samples=50, seed=0)

    full = [row.full_rank for row in stability.submissions]
    expected = [kendalltau(full, ranks).statistic for ranks in stability.sample_ranks]
    assert stability.kendall_tau == pytest.approx(expected)
    assert stability.kendall_tau_median == pytest.approx(np.median(expected))
    assert stability.kendall_tau_quartiles == pytest.approx(tuple(np.quantile(expected, [0.25, 0.75])))


def test_a_submission_best_on_every_case_ranks_first_in_every_bootstrap_sample():
    table = _random_table(submissions=4, cases=10, seed=3)
    table["best"] = {case_id: {"dice": 1.0, "absolute_volume_difference_ml": 0.0} for case_id in table["s00"]}

    for method in ("rank_then_aggregate", "aggregate_then_rank"):
        stability = bootstrap_rank_stability(table, [DICE, VOLUME], method=method, samples=100)
        best = stability.submissions[0]
        assert (best.submission_id, best.full_rank) == ("best", 1)
        assert best.rank_counts == (100, 0, 0, 0, 0)
        assert best.rank_interval == (1, 1)


def test_identical_submissions_tie_in_every_sample_and_leave_kendall_tau_undefined():
    case = {"dice": 0.7, "absolute_volume_difference_ml": 2.0}
    table = {name: {f"c{c}": dict(case) for c in range(5)} for name in ("A", "B", "C")}

    stability = bootstrap_rank_stability(table, [DICE, VOLUME], samples=30)

    assert all(row.rank_counts == (30, 0, 0) for row in stability.submissions)
    assert all(math.isnan(tau) for tau in stability.kendall_tau)
    assert math.isnan(stability.kendall_tau_median)


def test_bootstrap_of_a_single_case_reproduces_the_full_ranking_in_every_sample():
    table = {"A": {"c1": {"dice": 0.9}}, "B": {"c1": {"dice": 0.5}}, "C": {"c1": {"dice": 0.1}}}

    stability = bootstrap_rank_stability(table, [DICE], method="aggregate_then_rank", samples=20)

    assert set(stability.sample_ranks) == {(1, 2, 3)}
    assert stability.kendall_tau_median == 1.0


def test_bootstrap_refuses_zero_samples_and_a_confidence_outside_zero_and_one():
    with pytest.raises(ValueError, match="samples must be at least 1"):
        bootstrap_rank_stability(WORKED_TABLE, [DICE], samples=0)
    with pytest.raises(ValueError, match="confidence must lie strictly between 0 and 1"):
        bootstrap_rank_stability(WORKED_TABLE, [DICE], confidence=1.0)


def test_holm_adjustment_matches_the_hand_worked_example():
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> raised to 0.06.
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx((0.03, 0.06, 0.06, 0.02))
    assert holm_adjust([0.5, 0.6]) == (1.0, 1.0)
    assert holm_adjust([]) == ()
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]"):
        holm_adjust([0.2, 1.5])


def test_pairwise_wilcoxon_gives_scipys_p_values_holm_adjusted_and_names_the_better_submission():
    table = _random_table(submissions=3, cases=12, seed=4)
    del table["s02"]["case005"]
    dice = {name: [table[name].get(f"case{c:03d}", {}).get("dice") for c in range(12)] for name in table}

    tests = pairwise_wilcoxon(table, "dice", higher_is_better=True)

    raw = []
    for comparison in tests.comparisons:
        pairs = [
            (a, b)
            for a, b in zip(dice[comparison.first], dice[comparison.second], strict=True)
            if a is not None and b is not None
        ]
        expected = wilcoxon([a for a, _ in pairs], [b for _, b in pairs], zero_method="wilcox")
        assert comparison.cases == len(pairs)
        assert comparison.p_value == pytest.approx(expected.pvalue)
        raw.append(expected.pvalue)
    assert [comparison.p_adjusted for comparison in tests.comparisons] == pytest.approx(holm_adjust(raw))
    assert [(c.first, c.second) for c in tests.comparisons] == [
        ("s00", "s01"),
        ("s00", "s02"),
        ("s01", "s02"),
    ]
    assert tests.adjusted_p_values[0][2] == tests.adjusted_p_values[2][0] == tests.comparisons[1].p_adjusted
    assert tests.adjusted_p_values[1][1] == 1.0


def test_pairwise_wilcoxon_reads_the_metric_direction_to_name_the_better_submission():
    table = {
        "A": {f"c{c}": {"volume": 1.0 + c} for c in range(8)},
        "B": {f"c{c}": {"volume": 3.0 + 2 * c} for c in range(8)},
    }

    lower_better = pairwise_wilcoxon(table, "volume", higher_is_better=False)
    higher_better = pairwise_wilcoxon(table, "volume", higher_is_better=True)

    assert lower_better.comparisons[0].better == "A"
    assert higher_better.comparisons[0].better == "B"
    # Eight differences of one sign: exact two-sided p = 2 / 2**8.
    assert lower_better.comparisons[0].p_value == pytest.approx(2 / 256)
    assert lower_better.significantly_better(alpha=0.05) == ((False, True), (False, False))


def test_pairwise_wilcoxon_of_identical_submissions_gives_p_one_and_no_winner():
    table = {name: {f"c{c}": {"dice": 0.1 * c} for c in range(5)} for name in ("A", "B")}

    comparison = pairwise_wilcoxon(table, "dice", higher_is_better=True).comparisons[0]

    assert (comparison.p_value, comparison.p_adjusted, comparison.better) == (1.0, 1.0, None)


def test_pairwise_wilcoxon_needs_two_submissions():
    with pytest.raises(ValueError, match="at least two submissions"):
        pairwise_wilcoxon({"A": {}}, "dice", higher_is_better=True)
