"""Catch trials and intra-reader agreement on small answer sets, checked against statsmodels and numpy."""

import random

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from evaluation.preference import (
    ALL_READERS,
    REAL,
    REPEAT,
    SAME_MASK,
    Answer,
    guessing_rates,
    intra_reader_agreement,
    study_results,
)
from evaluation.stats import cohen_kappa

REFERENCE, ALGORITHM = 1, 2
SOURCES = {REFERENCE: "reference", ALGORITHM: "algorithm"}
CHOICES = (REFERENCE, ALGORITHM, None)


def _table(first: list[int], second: list[int]) -> np.ndarray:
    table = np.zeros((3, 3))
    for a, b in zip(first, second, strict=True):
        table[a, b] += 1
    return table


@pytest.mark.parametrize("seed", range(20))
def test_cohen_kappa_equals_statsmodels(seed: int) -> None:
    generator = random.Random(seed)
    size = generator.randint(2, 40)
    first = [generator.randrange(3) for _ in range(size)]
    second = [value if generator.random() < 0.6 else generator.randrange(3) for value in first]
    if len(set(first) | set(second)) == 1:
        second[0] = (first[0] + 1) % 3

    assert cohen_kappa(first, second, categories=3) == pytest.approx(
        cohens_kappa(_table(first, second)).kappa, abs=1e-12
    )


def test_cohen_kappa_is_undefined_when_every_answer_is_the_same_category() -> None:
    assert np.isnan(cohen_kappa([1, 1, 1], [1, 1, 1], categories=3))
    with pytest.raises(ValueError, match="category from 0 to 2"):
        cohen_kappa([0, 3], [0, 1], categories=3)


def _repeated_study(seed: int) -> tuple[list[Answer], dict[str, tuple[list[int], list[int]]]]:
    """Three readers, eight cases each compared once, five of them repeated later with the sides drawn
    anew; the expected (first, repeated) categories per reader, by source (0 reference, 1 algorithm,
    2 no preference)."""
    generator = random.Random(seed)
    answers, expected = [], {}
    for reader in ("r1", "r2", "r3"):
        firsts, repeats = [], []
        choices = {case: generator.choice(CHOICES) for case in range(8)}
        for case, choice in choices.items():
            sides = (REFERENCE, ALGORITHM) if generator.random() < 0.5 else (ALGORITHM, REFERENCE)
            answers.append(Answer(reader, case, *sides, choice, seconds=generator.uniform(3, 30)))
        for case in range(5):
            again = choices[case] if generator.random() < 0.7 else generator.choice(CHOICES)
            sides = (REFERENCE, ALGORITHM) if generator.random() < 0.5 else (ALGORITHM, REFERENCE)
            answers.append(Answer(reader, case, *sides, again, seconds=4.0, trial=REPEAT))
            firsts.append(CHOICES.index(choices[case]))
            repeats.append(CHOICES.index(again))
        expected[reader] = (firsts, repeats)
    return answers, expected


@pytest.mark.parametrize("seed", range(10))
def test_intra_reader_kappa_pools_then_splits_the_readers_as_statsmodels_does(seed: int) -> None:
    answers, expected = _repeated_study(seed)
    by_reader = {reader: [a for a in answers if a.reader == reader] for reader in expected}

    pooled, *per_reader = intra_reader_agreement(by_reader)

    all_first = [value for first, _ in expected.values() for value in first]
    all_second = [value for _, second in expected.values() for value in second]
    assert (pooled.reader, pooled.pairs) == (ALL_READERS, 15)
    assert pooled.agreeing == sum(a == b for a, b in zip(all_first, all_second, strict=True))
    statsmodels_kappa = cohens_kappa(_table(all_first, all_second)).kappa
    assert pooled.kappa == pytest.approx(statsmodels_kappa, abs=1e-12)
    for agreement, (reader, (first, second)) in zip(per_reader, expected.items(), strict=True):
        assert (agreement.reader, agreement.pairs) == (reader, 5)
        table = _table(first, second)
        chance_is_one = np.isclose((table.sum(0) @ table.sum(1)) / 25, 1.0)
        assert agreement.kappa == (None if chance_is_one else pytest.approx(cohens_kappa(table).kappa))


def test_guessing_rate_is_the_share_of_same_mask_answers_with_a_side_and_its_wilson_interval() -> None:
    same = [
        Answer("r1", case, REFERENCE, REFERENCE, REFERENCE if case < 3 else None, trial=SAME_MASK)
        for case in range(8)
    ] + [Answer("r2", 0, ALGORITHM, ALGORITHM, None, trial=SAME_MASK)]

    pooled, first, second = guessing_rates([(ALL_READERS, same), ("r1", same[:8]), ("r2", same[8:])])

    assert (pooled.answered, pooled.sided, pooled.rate) == (9, 3, pytest.approx(3 / 9))
    assert pooled.interval == pytest.approx(proportion_confint(3, 9, alpha=0.05, method="wilson"))
    assert (first.sided, first.answered) == (3, 8)
    assert first.interval == pytest.approx(proportion_confint(3, 8, alpha=0.05, method="wilson"))
    assert (second.sided, second.rate, second.interval[0]) == (0, 0.0, 0.0)


def test_study_results_leave_catch_trials_out_of_the_preference_rates_and_fleiss_kappa() -> None:
    answers, _ = _repeated_study(3)
    answers += [
        Answer(reader, 0, REFERENCE, REFERENCE, REFERENCE, trial=SAME_MASK) for reader in ("r1", "r2")
    ]
    real = [answer for answer in answers if answer.trial == REAL]

    with_catch = study_results(
        study="s", items=len(answers), sources=SOURCES, answers=answers, minimum_reading_seconds=2.0
    )
    only_real = study_results(
        study="s", items=len(real), sources=SOURCES, answers=real, minimum_reading_seconds=2.0
    )

    assert with_catch.preference == only_real.preference
    assert with_catch.per_reader == only_real.per_reader
    assert (with_catch.fleiss_kappa, with_catch.kappa_items) == (only_real.fleiss_kappa, 8)
    assert with_catch.catch_answers == 15 + 2
    assert (with_catch.guessing[0].answered, with_catch.guessing[0].sided) == (2, 2)
    assert with_catch.intra_reader[0].pairs == 15


def test_reading_times_give_each_reader_the_median_and_interquartile_range_of_every_item() -> None:
    answers, _ = _repeated_study(5)

    results = study_results(
        study="s", items=len(answers), sources=SOURCES, answers=answers, minimum_reading_seconds=2.0
    )

    for times in results.times[1:]:
        seconds = [a.seconds for a in answers if a.reader == times.reader]
        assert times.answered == 13
        assert times.median_seconds == pytest.approx(np.median(seconds))
        assert times.quartiles_seconds == pytest.approx(tuple(np.percentile(seconds, [25, 75])))
