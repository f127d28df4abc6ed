"""The results of a blinded preference study on answers small enough to check on paper."""

import doctest
import math

import pytest

from evaluation import preference
from evaluation.preference import (
    ALL_READERS,
    PSEUDO_WINS,
    Answer,
    bradley_terry_strengths,
    mean_with_t_interval,
    preference_kappa,
    preference_rates,
    rating_summaries,
    study_results,
)
from evaluation.stats import sign_test, wilson_interval

REFERENCE, ALGORITHM, RATER = 1, 2, 3
SOURCES = {REFERENCE: "reference", ALGORITHM: "algorithm"}


def answers_of(reader: str, preferred: list[int | None]) -> list[Answer]:
    """One answer per case, the reference shown as A on even cases and as B on odd ones."""
    return [
        Answer(reader, case, *((REFERENCE, ALGORITHM) if case % 2 == 0 else (ALGORITHM, REFERENCE)), choice)
        for case, choice in enumerate(preferred)
    ]


def test_the_doctests_hold() -> None:
    assert doctest.testmod(preference, raise_on_error=False).failed == 0


def test_eight_preferences_out_of_ten_with_two_ties_is_the_published_wilson_interval() -> None:
    answers = answers_of("reader", [REFERENCE] * 8 + [ALGORITHM] * 2 + [None] * 2)

    reference, algorithm = preference_rates(answers, SOURCES)

    assert (reference.source, reference.wins, reference.losses, reference.ties) == ("reference", 8, 2, 2)
    assert (algorithm.wins, algorithm.losses, algorithm.ties) == (2, 8, 2)
    assert reference.rate == 0.8
    assert reference.interval is not None
    assert [round(bound, 4) for bound in reference.interval] == [0.4902, 0.9433]  # Wilson (1927)
    assert reference.sign_test_p == pytest.approx(2 * (1 + 10 + 45) / 2**10)  # P(X >= 8) + P(X <= 2)
    assert algorithm.sign_test_p == reference.sign_test_p


@pytest.mark.parametrize("n", [1, 2, 5, 10, 37, 100])
def test_the_interval_and_p_value_are_those_of_evaluation_stats(n: int) -> None:
    for wins in range(n + 1):
        answers = answers_of("reader", [REFERENCE] * wins + [ALGORITHM] * (n - wins))
        reference, _ = preference_rates(answers, SOURCES)
        assert reference.interval is not None
        low, high = reference.interval
        expected_low, expected_high = wilson_interval(wins, n)
        assert abs(low - expected_low) < 1e-12
        assert abs(high - expected_high) < 1e-12
        assert abs(reference.sign_test_p - sign_test(wins, n)) < 1e-12


def test_a_source_never_decided_on_has_no_rate() -> None:
    reference, algorithm = preference_rates(answers_of("reader", [None, None]), SOURCES)

    assert (reference.ties, reference.rate, reference.interval, reference.sign_test_p) == (2, None, None, 1.0)
    assert algorithm.rate is None


def test_fleiss_kappa_of_two_readers_on_three_comparisons() -> None:
    # Subjects (categories reference, algorithm, none): [2, 0, 0], [0, 2, 0], [1, 0, 1].
    # P_i = 1, 1, 0 -> P_bar = 2/3; p_j = 3/6, 2/6, 1/6 -> P_e = 14/36; kappa = (2/3 - 7/18) / (11/18).
    answers = answers_of("first", [REFERENCE, ALGORITHM, REFERENCE]) + answers_of(
        "second", [REFERENCE, ALGORITHM, None]
    )

    kappa, subjects = preference_kappa(answers)

    assert subjects == 3
    assert kappa == pytest.approx(5 / 11)


def test_kappa_counts_only_comparisons_every_reader_answered() -> None:
    answers = answers_of("first", [REFERENCE, ALGORITHM, REFERENCE]) + answers_of("second", [REFERENCE])

    kappa, subjects = preference_kappa(answers)

    assert subjects == 1
    assert kappa is None  # one subject, every rating in one category: kappa is undefined


def test_kappa_needs_two_readers() -> None:
    assert preference_kappa(answers_of("alone", [REFERENCE, ALGORITHM])) == (None, 2)
    assert preference_kappa([]) == (None, 0)


def test_mean_rating_with_a_t_interval() -> None:
    mean, interval = mean_with_t_interval([3, 4, 5])
    assert mean == 4.0
    assert interval is not None
    half_width = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * s / sqrt(n), s = 1
    assert interval == pytest.approx((4.0 - half_width, 4.0 + half_width))
    assert mean_with_t_interval([4]) == (4.0, None)
    assert mean_with_t_interval([]) == (None, None)


def test_ratings_are_collected_per_source_whichever_side_it_was_on() -> None:
    answers = [
        Answer("reader", 0, REFERENCE, ALGORITHM, REFERENCE, rating_a=5, rating_b=2),
        Answer("reader", 1, ALGORITHM, REFERENCE, None, rating_a=3, rating_b=4),
    ]

    reference, algorithm = rating_summaries(answers, SOURCES)

    assert (reference.source, reference.ratings, reference.mean) == ("reference", 2, 4.5)
    assert (algorithm.ratings, algorithm.mean) == (2, 2.5)


def test_bradley_terry_needs_three_sources() -> None:
    assert bradley_terry_strengths(answers_of("reader", [REFERENCE]), SOURCES) == (None, 0.0)


def test_a_cycle_of_single_wins_gives_equal_strengths() -> None:
    sources = {1: "a", 2: "b", 3: "c"}
    answers = [Answer("r", 0, 1, 2, 1), Answer("r", 1, 2, 3, 2), Answer("r", 2, 3, 1, 3)]

    strengths, pseudo_wins = bradley_terry_strengths(answers, sources)

    assert pseudo_wins == 0.0
    assert strengths is not None
    assert [strength.source for strength in strengths] == ["a", "b", "c"]
    assert [strength.strength for strength in strengths] == pytest.approx([1.0, 1.0, 1.0])


def test_a_source_that_never_wins_gets_the_pseudo_wins() -> None:
    sources = {1: "a", 2: "b", RATER: "c"}
    answers = [Answer("r", 0, 1, 2, 1), Answer("r", 1, 2, RATER, 2), Answer("r", 2, 1, RATER, 1)]

    strengths, pseudo_wins = bradley_terry_strengths(answers, sources)

    assert pseudo_wins == PSEUDO_WINS
    assert strengths is not None
    assert strengths[0].strength > strengths[1].strength > strengths[2].strength


def test_fast_answers_are_flagged_and_can_be_left_out() -> None:
    answers = [
        Answer("first", 0, REFERENCE, ALGORITHM, REFERENCE, seconds=1.0),
        Answer("first", 1, ALGORITHM, REFERENCE, REFERENCE, seconds=5.0),
        Answer("second", 0, REFERENCE, ALGORITHM, ALGORITHM, seconds=3.0),
        Answer("second", 1, ALGORITHM, REFERENCE, None, seconds=None),
    ]
    options = {"study": "Study", "items": 6, "sources": SOURCES, "answers": answers}

    everything = study_results(**options, minimum_reading_seconds=2.0)
    without_fast = study_results(**options, minimum_reading_seconds=2.0, exclude_fast=True)

    assert (everything.answered, everything.items, everything.sources) == (4, 6, ("reference", "algorithm"))
    assert (everything.fast_answers, everything.fast_answers_excluded) == (1, 0)
    assert everything.preference[0].wins == 2
    all_readers, first, second = everything.times
    assert (all_readers.reader, all_readers.answered, all_readers.median_seconds) == (ALL_READERS, 3, 3.0)
    assert all_readers.mean_seconds == 3.0
    assert (first.reader, first.fast_answers, second.fast_answers) == ("first", 1, 0)
    assert (second.answered, second.median_seconds) == (1, 3.0)

    assert (without_fast.answered, without_fast.fast_answers, without_fast.fast_answers_excluded) == (4, 1, 1)
    assert without_fast.preference[0].wins == 1
    assert [(rates.reader, rates.answered) for rates in without_fast.per_reader] == [
        ("first", 1),
        ("second", 2),
    ]
    assert without_fast.times[0].answered == 2
    assert without_fast.times[0].median_seconds == 4.0
    assert without_fast.times[1].fast_answers == 1
