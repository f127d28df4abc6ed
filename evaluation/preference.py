"""The results of a blinded preference study, from its answers as plain data.

Each answer is one comparison a reader made of two mask sources on one case (``Answer``); sources are
named by a key and labelled for the results. A source's preference rate counts, over the comparisons it
took part in, the ones where a reader preferred it; "no preference" answers are ties and are left out of
the rate, its Wilson interval and the sign test (which tests the rate against 50 %), and are reported
beside them. Fleiss' kappa is computed over the comparisons every reader with an answer has answered,
with three categories per compared pair (first source, second source, no preference). With three or more
sources, Bradley-Terry strengths rank them from the pairwise wins. Reading times are the seconds from an
item's panes drawn to its answer; an answer faster than the study's minimum reading time is "fast", and
may be left out of every statistic.

Catch trials check the readers, and are left out of the preference statistics above: a "same mask" item
shows one source's mask on both sides, so a reader who prefers a side there is guessing (the share of such
answers is the guessing rate, with its Wilson interval); a "repeat" item shows a comparison the reader
answered earlier again, sides drawn anew, and intra-reader agreement is Cohen's kappa of each reader's
first against repeated answer (categories: first source, second source, no preference), pooled over the
readers and per reader. The first answer of a repeated comparison is its real answer, counted once.

Fleiss' kappa and Bradley-Terry are ``evaluation.stats``'s; the rates take their Wilson interval and
sign test from one ``scipy.stats.binomtest`` (see ``preference_rates``). This module counts what they are
given. No Django: the portal's reader studies turn
their rows into ``Answer`` values and call ``study_results``.
"""

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest
from scipy.stats import t as student_t

from evaluation.stats import bradley_terry, cohen_kappa, fleiss_kappa, wilson_interval

__all__ = [
    "ALL_READERS",
    "PSEUDO_WINS",
    "REAL",
    "REPEAT",
    "SAME_MASK",
    "Answer",
    "GuessingRate",
    "IntraReaderAgreement",
    "PreferenceRate",
    "RatingSummary",
    "ReaderRates",
    "ReadingTimes",
    "Strength",
    "StudyResults",
    "answer_is_fast",
    "bradley_terry_strengths",
    "guessing_rates",
    "intra_reader_agreement",
    "mean_with_t_interval",
    "preference_kappa",
    "preference_rates",
    "rating_summaries",
    "reading_times",
    "real_answers",
    "study_results",
]

PSEUDO_WINS = 0.5
"""Added to every pair's wins when the Bradley-Terry maximum does not exist (a source never won or lost)."""

ALL_READERS = "all readers"
"""The name of the first row of ``reading_times`` and the catch-trial tables: every reader together."""

REAL = "REAL"
"""An item that compares two sources (its answer counts in the preference statistics)."""
SAME_MASK = "SAME_MASK"
"""A catch trial showing one source's mask on both sides: preferring a side is guessing."""
REPEAT = "REPEAT"
"""A catch trial repeating, later and with sides drawn anew, a comparison the reader made earlier."""


@dataclass(frozen=True)
class Answer:
    """One answered comparison: the reader, the case, the sources shown as A (left) and B (right), the
    source preferred (None: no preference), the 1-5 quality ratings if asked, and the reading time."""

    reader: str
    case: Hashable
    source_a: int
    source_b: int
    preferred: int | None
    rating_a: int | None = None
    rating_b: int | None = None
    seconds: float | None = None
    trial: str = REAL
    """``REAL``, ``SAME_MASK`` (``source_a == source_b``) or ``REPEAT``."""


@dataclass(frozen=True)
class PreferenceRate:
    """How often readers preferred a source over the other source of its comparisons (ties left out)."""

    source: str
    wins: int
    losses: int
    ties: int
    rate: float | None
    interval: tuple[float, float] | None
    sign_test_p: float


@dataclass(frozen=True)
class ReaderRates:
    reader: str
    answered: int
    rates: tuple[PreferenceRate, ...]


@dataclass(frozen=True)
class RatingSummary:
    """Mean 1-5 quality rating of a source's masks with a 95 % t interval (none under two ratings)."""

    source: str
    ratings: int
    mean: float | None
    interval: tuple[float, float] | None


@dataclass(frozen=True)
class Strength:
    source: str
    strength: float


@dataclass(frozen=True)
class ReadingTimes:
    """Seconds from an item's panes drawn to its answer over the answers counted; ``fast_answers`` counts
    every answer faster than the study's minimum reading time, excluded or not."""

    reader: str
    answered: int
    median_seconds: float | None
    mean_seconds: float | None
    fast_answers: int
    quartiles_seconds: tuple[float, float] | None = None
    """The 25th and 75th percentiles (linear interpolation): the interquartile range."""


@dataclass(frozen=True)
class GuessingRate:
    """A reader's (or every reader's) answers to same-mask catch trials: how many preferred a side, and
    that share with its Wilson 95 % interval (None without such answers)."""

    reader: str
    answered: int
    sided: int
    rate: float | None
    interval: tuple[float, float] | None


@dataclass(frozen=True)
class IntraReaderAgreement:
    """A reader's (or every reader's) repeated comparisons: how many pairs of first and repeated answer,
    how many alike, and Cohen's kappa over them (None without pairs, or when kappa is undefined)."""

    reader: str
    pairs: int
    agreeing: int
    kappa: float | None


@dataclass(frozen=True)
class StudyResults:
    study: str
    answered: int
    items: int
    sources: tuple[str, ...]
    preference: tuple[PreferenceRate, ...]
    per_reader: tuple[ReaderRates, ...]
    fleiss_kappa: float | None
    kappa_items: int
    ratings: tuple[RatingSummary, ...]
    bradley_terry: tuple[Strength, ...] | None
    bradley_terry_pseudo_wins: float
    times: tuple[ReadingTimes, ...]
    minimum_reading_seconds: float
    fast_answers: int
    fast_answers_excluded: int
    """Answers faster than the minimum reading time left out of every statistic (0 unless asked)."""
    catch_answers: int = 0
    """Answers to catch trials (same mask, repeat), left out of the preference statistics."""
    guessing: tuple[GuessingRate, ...] = ()
    intra_reader: tuple[IntraReaderAgreement, ...] = ()


def answer_is_fast(seconds: float | None, *, minimum_reading_seconds: float) -> bool:
    """Whether an answer came faster than the study's shortest plausible reading time.

    An answer without a reading time is never fast.

    >>> answer_is_fast(1.5, minimum_reading_seconds=2.0), answer_is_fast(None, minimum_reading_seconds=2.0)
    (True, False)
    """
    return seconds is not None and seconds < minimum_reading_seconds


def preference_rates(answers: Iterable[Answer], sources: Mapping[int, str]) -> tuple[PreferenceRate, ...]:
    """Each source's wins, losses and ties, its preference rate with a Wilson 95 % interval, and the sign
    test of the rate against 50 %, in the order of ``sources`` (key: label).

    With w wins and l losses the rate is w / (w + l); ties (no preference) are counted but left out of
    the rate, its interval and the test. One ``scipy.stats.binomtest(w, w + l, 0.5)`` gives both the
    sign test's two-sided p-value (as ``evaluation.stats.sign_test``) and the Wilson score interval
    ``(p + z^2 / 2n -/+ z * sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)`` with n = w + l and
    z = 1.96 (its ``proportion_ci(method="wilson")``, equal to ``evaluation.stats.wilson_interval`` within
    1e-15 and cheaper than a second computation). A source never decided on has rate and interval None
    and p-value 1.0.

    >>> rates = preference_rates(
    ...     [Answer("r1", 1, 10, 20, 10), Answer("r2", 1, 20, 10, 10), Answer("r1", 2, 10, 20, None)],
    ...     {10: "reference", 20: "algorithm"},
    ... )
    >>> [(rate.source, rate.wins, rate.losses, rate.ties, rate.rate) for rate in rates]
    [('reference', 2, 0, 1, 1.0), ('algorithm', 0, 2, 1, 0.0)]
    """
    wins: dict[int, int] = defaultdict(int)
    losses: dict[int, int] = defaultdict(int)
    ties: dict[int, int] = defaultdict(int)
    for answer in answers:
        for source, other in ((answer.source_a, answer.source_b), (answer.source_b, answer.source_a)):
            if answer.preferred is None:
                ties[source] += 1
            elif answer.preferred == source:
                wins[source] += 1
            elif answer.preferred == other:
                losses[source] += 1
    rates = []
    for source, label in sources.items():
        decided = wins[source] + losses[source]
        rate, interval, p_value = None, None, 1.0
        if decided:
            test = binomtest(wins[source], decided, 0.5, alternative="two-sided")
            wilson = test.proportion_ci(confidence_level=0.95, method="wilson")
            rate, interval, p_value = (
                wins[source] / decided,
                (float(wilson.low), float(wilson.high)),
                float(test.pvalue),
            )
        rates.append(
            PreferenceRate(
                source=label,
                wins=wins[source],
                losses=losses[source],
                ties=ties[source],
                rate=rate,
                interval=interval,
                sign_test_p=p_value,
            )
        )
    return tuple(rates)


def preference_kappa(answers: Sequence[Answer]) -> tuple[float | None, int]:
    """Fleiss' kappa of the readers' answers, and the number of comparisons it was computed over.

    A subject is one case with one pair of sources (whichever side each was shown on); its categories
    are the first source (lower key), the second, and no preference. Only subjects answered by every
    reader who answered anything count, so each has the same number of ratings (``fleiss_kappa``).
    Fewer than two readers, no such subject, or every answer in one category (kappa undefined) give None.

    >>> kappa, subjects = preference_kappa(
    ...     [Answer("r1", 1, 10, 20, 10), Answer("r2", 1, 20, 10, 10),
    ...      Answer("r1", 2, 10, 20, 20), Answer("r2", 2, 10, 20, 20)]
    ... )
    >>> kappa, subjects  # perfect agreement on both cases
    (1.0, 2)
    """
    by_subject: dict[tuple[Hashable, int, int], list[int]] = defaultdict(list)
    readers = {answer.reader for answer in answers}
    for answer in answers:
        first, second = sorted((answer.source_a, answer.source_b))
        category = 2 if answer.preferred is None else (0 if answer.preferred == first else 1)
        by_subject[(answer.case, first, second)].append(category)
    rows = [
        [categories.count(0), categories.count(1), categories.count(2)]
        for categories in by_subject.values()
        if len(categories) == len(readers)
    ]
    if len(readers) < 2 or not rows:
        return None, len(rows)
    kappa = fleiss_kappa(rows)
    return (None if math.isnan(kappa) else kappa), len(rows)


def mean_with_t_interval(values: Sequence[float]) -> tuple[float | None, tuple[float, float] | None]:
    """The mean and its 95 % Student t interval, ``mean -/+ t(0.975, n - 1) * s / sqrt(n)`` with s the
    sample standard deviation; (None, None) without values and no interval for a single value.

    >>> mean, (low, high) = mean_with_t_interval([3, 4, 5])  # t(0.975, 2) = 4.3027, s = 1
    >>> mean, round(low, 4), round(high, 4)
    (4.0, 1.5159, 6.4841)
    """
    if not values:
        return None, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    half_width = (
        float(student_t.ppf(0.975, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    )
    return mean, (mean - half_width, mean + half_width)


def rating_summaries(answers: Iterable[Answer], sources: Mapping[int, str]) -> tuple[RatingSummary, ...]:
    """Each source's quality ratings: how many, their mean and its t interval (``mean_with_t_interval``),
    in the order of ``sources``."""
    by_source: dict[int, list[int]] = defaultdict(list)
    for answer in answers:
        for source, rating in ((answer.source_a, answer.rating_a), (answer.source_b, answer.rating_b)):
            if rating is not None:
                by_source[source].append(rating)
    summaries = []
    for source, label in sources.items():
        mean, interval = mean_with_t_interval(by_source[source])
        summaries.append(RatingSummary(label, len(by_source[source]), mean, interval))
    return tuple(summaries)


def bradley_terry_strengths(
    answers: Sequence[Answer], sources: Mapping[int, str]
) -> tuple[tuple[Strength, ...] | None, float]:
    """Bradley-Terry strengths of three or more sources from their pairwise wins (ties left out), and the
    pseudo-count that was added to every pair's wins (0.0, or ``PSEUDO_WINS`` when the maximum-likelihood
    strengths do not exist because a source never won or never lost; see ``evaluation.stats``).

    None under three sources (the preference rate says it all) or without answers.
    """
    if len(sources) < 3 or not answers:
        return None, 0.0
    index = {source: position for position, source in enumerate(sources)}
    wins = np.zeros((len(sources), len(sources)))
    for answer in answers:
        if answer.preferred is not None:
            loser = answer.source_b if answer.preferred == answer.source_a else answer.source_a
            wins[index[answer.preferred], index[loser]] += 1
    pseudo_wins = 0.0
    try:
        strengths = bradley_terry(wins)
    except ValueError:
        pseudo_wins = PSEUDO_WINS
        strengths = bradley_terry(wins + PSEUDO_WINS * (1 - np.eye(len(sources))))
    return tuple(
        Strength(label, strength) for label, strength in zip(sources.values(), strengths, strict=True)
    ), pseudo_wins


def real_answers(answers: Iterable[Answer]) -> list[Answer]:
    """The answers to real items: catch trials left out, a repeated comparison counted by its first answer."""
    return [answer for answer in answers if answer.trial == REAL]


def _category(answer: Answer) -> int:
    """0: the comparison's first source (lower key) preferred, 1: the second, 2: no preference."""
    if answer.preferred is None:
        return 2
    return 0 if answer.preferred == min(answer.source_a, answer.source_b) else 1


def guessing_rates(by_reader: Iterable[tuple[str, Sequence[Answer]]]) -> tuple[GuessingRate, ...]:
    """Per group of answers (e.g. all readers, then each reader): the same-mask catch trials answered, how
    many preferred a side, and the guessing rate ``sided / answered`` with its Wilson 95 % interval.

    >>> same = [Answer("r1", 1, 10, 10, 10, trial=SAME_MASK), Answer("r1", 2, 20, 20, None, trial=SAME_MASK)]
    >>> rate = guessing_rates([("r1", same)])[0]
    >>> rate.answered, rate.sided, rate.rate
    (2, 1, 0.5)
    """
    rates = []
    for reader, answers in by_reader:
        same = [answer for answer in answers if answer.trial == SAME_MASK]
        sided = sum(answer.preferred is not None for answer in same)
        rates.append(
            GuessingRate(
                reader=reader,
                answered=len(same),
                sided=sided,
                rate=sided / len(same) if same else None,
                interval=wilson_interval(sided, len(same)) if same else None,
            )
        )
    return tuple(rates)


def _comparison(answer: Answer) -> tuple[Hashable, int, int]:
    """The case and the pair of sources an answer compares, whichever side each was shown on."""
    return answer.case, min(answer.source_a, answer.source_b), max(answer.source_a, answer.source_b)


def _repeat_pairs(answers: Sequence[Answer]) -> list[tuple[int, int]]:
    """(first, repeated) categories of each repeated comparison of one reader with both answers."""
    first = {_comparison(answer): answer for answer in answers if answer.trial == REAL}
    pairs = []
    for answer in answers:
        if answer.trial == REPEAT:
            original = first.get(_comparison(answer))
            if original is not None:
                pairs.append((_category(original), _category(answer)))
    return pairs


def intra_reader_agreement(
    answers_by_reader: Mapping[str, Sequence[Answer]],
) -> tuple[IntraReaderAgreement, ...]:
    """Intra-reader agreement: Cohen's kappa of each reader's first against repeated answer of the same
    comparison (categories: first source, second source, no preference, whichever side each was shown
    on), pooled over every reader first, then per reader.

    >>> answers = [Answer("r1", 1, 10, 20, 10), Answer("r1", 2, 10, 20, 20),
    ...            Answer("r1", 1, 20, 10, 10, trial=REPEAT), Answer("r1", 2, 20, 10, 20, trial=REPEAT)]
    >>> intra_reader_agreement({"r1": answers})[0]
    IntraReaderAgreement(reader='all readers', pairs=2, agreeing=2, kappa=1.0)
    """
    by_reader = {reader: _repeat_pairs(answers) for reader, answers in answers_by_reader.items()}
    groups = [(ALL_READERS, [pair for pairs in by_reader.values() for pair in pairs]), *by_reader.items()]
    agreements = []
    for reader, pairs in groups:
        kappa = None
        if pairs:
            value = cohen_kappa([a for a, _ in pairs], [b for _, b in pairs], categories=3)
            kappa = None if math.isnan(value) else value
        agreements.append(
            IntraReaderAgreement(
                reader=reader, pairs=len(pairs), agreeing=sum(a == b for a, b in pairs), kappa=kappa
            )
        )
    return tuple(agreements)


def _quartiles(values: Sequence[float]) -> tuple[float, float] | None:
    if not values:
        return None
    low, high = np.percentile(values, [25, 75])
    return float(low), float(high)


def reading_times(
    by_reader: Iterable[tuple[str, Sequence[Answer]]],
    *,
    counted: Callable[[Answer], bool],
    minimum_reading_seconds: float,
) -> tuple[ReadingTimes, ...]:
    """Per group of answers (e.g. all readers, then each reader): the median and mean reading time of
    the answers ``counted`` (those with a time) with their quartiles, and how many of all its answers were
    fast. Every item counts here, catch trials too: each took the reader's time."""
    times = []
    for reader, answers in by_reader:
        seconds = [answer.seconds for answer in answers if answer.seconds is not None and counted(answer)]
        times.append(
            ReadingTimes(
                reader=reader,
                answered=len(seconds),
                median_seconds=statistics.median(seconds) if seconds else None,
                mean_seconds=statistics.fmean(seconds) if seconds else None,
                fast_answers=sum(
                    answer_is_fast(answer.seconds, minimum_reading_seconds=minimum_reading_seconds)
                    for answer in answers
                ),
                quartiles_seconds=_quartiles(seconds),
            )
        )
    return tuple(times)


def study_results(
    *,
    study: str,
    items: int,
    sources: Mapping[int, str],
    answers: Sequence[Answer],
    minimum_reading_seconds: float,
    exclude_fast: bool = False,
) -> StudyResults:
    """A study's statistics over its ``answers`` (in reader and item order), or, with ``exclude_fast``,
    over those no faster than ``minimum_reading_seconds``; fast answers are counted per reader either way.

    ``study`` is the study's title and ``items`` the number of items drawn (answered or not); ``sources``
    maps each source's key to its label, in the study's order. The preference statistics count the real
    answers (``real_answers``); the catch trials give the guessing rates and the intra-reader agreement.
    """

    def counted(answer: Answer) -> bool:
        return not (
            exclude_fast and answer_is_fast(answer.seconds, minimum_reading_seconds=minimum_reading_seconds)
        )

    kept_all = [answer for answer in answers if counted(answer)]
    kept = real_answers(kept_all)
    answers_by_reader: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        answers_by_reader[answer.reader].append(answer)
    kept_by_reader = {
        reader: [answer for answer in reader_answers if counted(answer)]
        for reader, reader_answers in answers_by_reader.items()
    }
    by_reader = {reader: real_answers(reader_answers) for reader, reader_answers in kept_by_reader.items()}
    kappa, kappa_items = preference_kappa(kept)
    strengths, pseudo_wins = bradley_terry_strengths(kept, sources)
    fast_answers = sum(
        answer_is_fast(answer.seconds, minimum_reading_seconds=minimum_reading_seconds) for answer in answers
    )
    return StudyResults(
        study=study,
        answered=len(answers),
        items=items,
        sources=tuple(sources.values()),
        preference=preference_rates(kept, sources),
        per_reader=tuple(
            ReaderRates(reader, len(reader_answers), preference_rates(reader_answers, sources))
            for reader, reader_answers in by_reader.items()
        ),
        fleiss_kappa=kappa,
        kappa_items=kappa_items,
        ratings=rating_summaries(kept, sources),
        bradley_terry=strengths,
        bradley_terry_pseudo_wins=pseudo_wins,
        times=reading_times(
            [(ALL_READERS, answers), *answers_by_reader.items()],
            counted=counted,
            minimum_reading_seconds=minimum_reading_seconds,
        ),
        minimum_reading_seconds=minimum_reading_seconds,
        fast_answers=fast_answers,
        fast_answers_excluded=len(answers) - len(kept_all),
        catch_answers=len(kept_all) - len(kept),
        guessing=guessing_rates([(ALL_READERS, kept_all), *kept_by_reader.items()]),
        intra_reader=intra_reader_agreement(kept_by_reader),
    )
