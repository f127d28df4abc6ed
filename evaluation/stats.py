"""Statistics beside the leaderboard: clinical correlation and the reader-study tests.

- :func:`spearman_with_ci`: Spearman's rank correlation with a bootstrap confidence interval, e.g. of the
  predicted (or reference) lesion volume with NIHSS or the 90-day mRS.
- :func:`spearman_beside_reference_with_ci` (and :func:`spearman_difference_with_ci` for one): how much
  measurements' rank correlations with a clinical score differ from a reference's (algorithms' volumes
  against the expert annotation's), with paired bootstrap intervals.
- :func:`wilson_interval` and :func:`sign_test`: a proportion of preferences and its two-sided test.
- :func:`fleiss_kappa`: agreement of several raters who sort subjects into categories.
- :func:`cohen_kappa`: agreement of two ratings of the same subjects (e.g. one reader's first and repeated
  answer).
- :func:`bradley_terry`: strengths of items from a matrix of pairwise wins.

Every function takes plain numbers or arrays and raises ``ValueError`` with a sentence for unusable input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import connected_components
from scipy.stats import binomtest, norm, rankdata, spearmanr

__all__ = [
    "Correlation",
    "CorrelationDifference",
    "bradley_terry",
    "cohen_kappa",
    "fleiss_kappa",
    "sign_test",
    "spearman_beside_reference_with_ci",
    "spearman_difference_with_ci",
    "spearman_with_ci",
    "wilson_interval",
]

FloatArray: TypeAlias = NDArray[np.float64]


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient with its p-value and a bootstrap percentile interval.

    ``pairs`` is the number of complete pairs used; ``valid_samples`` the number of bootstrap samples in
    which the coefficient was defined (a sample whose values are all equal has none).
    """

    coefficient: float
    p_value: float
    interval: tuple[float, float]
    pairs: int
    samples: int
    valid_samples: int


def spearman_with_ci(
    measurements: ArrayLike,
    clinical_scores: ArrayLike,
    *,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Correlation:
    """Spearman's rank correlation of two paired samples, with a bootstrap percentile confidence interval.

    rho is Pearson's correlation of the mid-ranks (ties share the mean rank), in [-1, 1]; it is symmetric
    in its two arguments. The p-value is ``scipy.stats.spearmanr``'s (t distribution with n - 2 degrees of
    freedom). The interval resamples the pairs with replacement ``samples`` times from
    ``numpy.random.default_rng(seed)`` and takes the central ``confidence`` percentiles of the defined
    coefficients.

    Edge cases: pairs with a NaN on either side (a patient without a clinical score) are dropped. If either
    side is constant after that (e.g. a submission that always predicts an empty mask, volume 0),
    coefficient, p-value and interval are NaN. Bootstrap samples whose values are all equal are left out
    of the interval; if none is defined the interval is (NaN, NaN).

    Parameters
    ----------
    measurements, clinical_scores : sequence of float
        Paired values, e.g. predicted lesion volume in ml and the 90-day mRS of the same patients.
    samples : int
        Number of bootstrap samples (at least 1).
    seed : int
        Seed of the NumPy generator; the same seed gives the same interval.
    confidence : float
        Coverage of the interval, in (0, 1).

    Raises
    ------
    ValueError
        If the lengths differ, fewer than 3 complete pairs remain, ``samples`` < 1 or ``confidence`` is
        outside (0, 1).

    References
    ----------
    Spearman (1904), "The proof and measurement of association between two things", Am. J. Psychol.
    15(1):72-101; Efron & Tibshirani (1993), An Introduction to the Bootstrap, ch. 13 (percentile interval).
    """
    first = np.asarray(measurements, dtype=np.float64).ravel()
    second = np.asarray(clinical_scores, dtype=np.float64).ravel()
    if first.shape != second.shape:
        raise ValueError(f"the samples must be paired, got {first.size} and {second.size} values.")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    complete = ~(np.isnan(first) | np.isnan(second))
    first, second = first[complete], second[complete]
    if first.size < 3:
        raise ValueError(f"a rank correlation needs at least 3 complete pairs, got {first.size}.")
    indices = np.random.default_rng(seed).integers(0, first.size, size=(samples, first.size))
    return _bootstrap_correlation(
        first,
        second,
        lambda: _rank_correlation_rows(first[indices], second[indices]),
        samples=samples,
        confidence=confidence,
    )


def _bootstrap_correlation(
    first: FloatArray,
    second: FloatArray,
    sampled: Callable[[], FloatArray],
    *,
    samples: int,
    confidence: float,
) -> Correlation:
    """Spearman's rho of the complete pairs and the percentile interval of ``sampled()``, the rho of
    each bootstrap sample (NaN where undefined), which is not drawn when either side is constant."""
    if np.all(first == first[0]) or np.all(second == second[0]):
        nan = float("nan")
        return Correlation(nan, nan, (nan, nan), int(first.size), samples, 0)
    result = spearmanr(first, second)
    coefficients = sampled()
    defined = coefficients[~np.isnan(coefficients)]
    return Correlation(
        coefficient=float(result.statistic),
        p_value=float(result.pvalue),
        interval=_percentile_interval(defined, confidence=confidence),
        pairs=int(first.size),
        samples=samples,
        valid_samples=int(defined.size),
    )


def _percentile_interval(defined: FloatArray, *, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    if defined.size == 0:
        return (float("nan"), float("nan"))
    return (float(np.quantile(defined, tail)), float(np.quantile(defined, 1.0 - tail)))


@dataclass(frozen=True)
class CorrelationDifference:
    """rho(measured, score) - rho(reference, score) with a paired bootstrap percentile interval."""

    difference: float
    interval: tuple[float, float]
    pairs: int
    samples: int
    valid_samples: int


def spearman_difference_with_ci(
    reference: ArrayLike,
    measured: ArrayLike,
    clinical_scores: ArrayLike,
    *,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> CorrelationDifference:
    """How much better (positive) or worse ``measured`` correlates with ``clinical_scores`` than
    ``reference`` does: Spearman's rho of (measured, score) minus rho of (reference, score), e.g. an
    algorithm's lesion volumes against the expert annotation's, both with the 90-day mRS.

    The difference of :func:`spearman_beside_reference_with_ci` for one measurement; see there.
    """
    _, [(_, difference)] = spearman_beside_reference_with_ci(
        reference, [measured], clinical_scores, samples=samples, seed=seed, confidence=confidence
    )
    return difference


def spearman_beside_reference_with_ci(
    reference: ArrayLike,
    measurements: Sequence[ArrayLike],
    clinical_scores: ArrayLike,
    *,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[Correlation, list[tuple[Correlation, CorrelationDifference]]]:
    """The reference's Spearman correlation with ``clinical_scores`` and, for each of ``measurements``
    of the same patients, its own and its difference from the reference's (measured minus reference).

    Why paired: both correlations are of the same patients' scores, so they are not independent; the
    interval of a difference resamples the patients with replacement ``samples`` times from
    ``numpy.random.default_rng(seed)`` and takes the central ``confidence`` percentiles of the defined
    differences. An interval that holds 0 says the data cannot tell the two apart ("as good as the
    experts" is then not refuted); a sample in which either rho is undefined (constant values) is left
    out. Every correlation is :func:`spearman_with_ci`'s with the same ``seed``, to the bit: the patients
    are resampled once and the reference's and the scores' ranks serve every measurement, which is what
    makes comparing many algorithms with the reference affordable.

    Edge cases: patients with a NaN anywhere (reference, score or any measurement) are dropped; a rho
    undefined on the whole data (constant values) gives a NaN difference and interval.

    Raises
    ------
    ValueError
        If the lengths differ, fewer than 3 complete patients remain, ``samples`` < 1 or ``confidence``
        is outside (0, 1).

    References
    ----------
    Efron & Tibshirani (1993), An Introduction to the Bootstrap, ch. 13 (percentile interval); de Vries
    et al. (2025), "Accelerating ischemic stroke lesion segmentation with DeepISLES", Nat. Commun. (the
    comparison of algorithm and expert volumes' correlations with clinical scores).
    """
    columns = [
        np.asarray(values, dtype=np.float64).ravel() for values in (reference, clinical_scores, *measurements)
    ]
    if len({column.size for column in columns}) != 1:
        sizes = ", ".join(str(column.size) for column in columns)
        raise ValueError(f"the reference, scores and measurements must be paired, got {sizes} values.")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    table = np.vstack(columns)
    table = table[:, ~np.isnan(table).any(axis=0)]
    patients = int(table.shape[1])
    if patients < 3:
        raise ValueError(f"a rank correlation needs at least 3 complete patients, got {patients}.")
    indices = np.random.default_rng(seed).integers(0, patients, size=(samples, patients))
    scores, score_ranks = table[1], _centred_ranks(table[1][indices])
    first = table[0]
    reference_rhos = _rhos(_centred_ranks(first[indices]), score_ranks)
    reference_correlation = _bootstrap_correlation(
        first, scores, reference_rhos.copy, samples=samples, confidence=confidence
    )
    compared = []
    for values in table[2:]:
        rhos = _rhos(_centred_ranks(values[indices]), score_ranks)
        correlation = _bootstrap_correlation(
            values, scores, rhos.copy, samples=samples, confidence=confidence
        )
        differences = rhos - reference_rhos
        compared.append(
            (correlation, _difference(correlation, reference_correlation, differences, confidence=confidence))
        )
    return reference_correlation, compared


def _difference(
    correlation: Correlation, reference: Correlation, sampled: FloatArray, *, confidence: float
) -> CorrelationDifference:
    if math.isnan(correlation.coefficient) or math.isnan(reference.coefficient):
        nan = float("nan")
        return CorrelationDifference(nan, (nan, nan), correlation.pairs, int(sampled.size), 0)
    defined = sampled[~np.isnan(sampled)]
    return CorrelationDifference(
        difference=correlation.coefficient - reference.coefficient,
        interval=_percentile_interval(defined, confidence=confidence),
        pairs=correlation.pairs,
        samples=int(sampled.size),
        valid_samples=int(defined.size),
    )


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``successes / n``.

    With p = successes / n and z the standard normal quantile at 1 - (1 - confidence) / 2, the interval is
    ``(p + z^2 / 2n -/+ z * sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)``. It stays inside [0, 1]
    and, unlike the Wald interval, is not degenerate at 0 or n successes; there the lower bound is
    exactly 0 (0 successes) or the upper bound exactly 1 (n successes).

    Raises
    ------
    ValueError
        If ``n`` < 1, ``successes`` is outside [0, n], or ``confidence`` is outside (0, 1).

    References
    ----------
    Wilson (1927), "Probable inference, the law of succession, and statistical inference", JASA
    22(158):209-212, doi:10.1080/01621459.1927.10502953.

    Examples
    --------
    >>> [round(bound, 4) for bound in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    _check_counts(successes, n)
    if n < 1:
        raise ValueError("a proportion needs at least one trial, got n = 0.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    z = float(norm.ppf(1.0 - (1.0 - confidence) / 2.0))
    proportion = successes / n
    denominator = 1.0 + z * z / n
    centre = (proportion + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(proportion * (1 - proportion) / n + z * z / (4 * n * n)) / denominator
    # At 0 and n successes the bound is exactly 0 or 1; rounding would otherwise leave it a hair inside.
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == n else min(1.0, centre + half_width)
    return (low, high)


def sign_test(successes: int, n: int) -> float:
    """Two-sided sign test: the exact binomial p-value of ``successes`` out of ``n`` against p = 0.5.

    Ties are left out by the caller, so ``n`` counts the decided comparisons only. The p-value is
    ``scipy.stats.binomtest(successes, n, 0.5, alternative="two-sided")``'s: the probability of an outcome
    no more likely than the observed one. ``n`` = 0 (every comparison tied) gives 1.0.

    Raises
    ------
    ValueError
        If ``n`` is negative or ``successes`` is outside [0, n].

    References
    ----------
    Dixon & Mood (1946), "The statistical sign test", JASA 41(236):557-566.

    Examples
    --------
    >>> round(sign_test(9, 10), 4)
    0.0215
    """
    _check_counts(successes, n)
    if n == 0:
        return 1.0
    return float(binomtest(successes, n, 0.5, alternative="two-sided").pvalue)


def fleiss_kappa(counts: ArrayLike) -> float:
    """Fleiss' kappa of agreement among raters who assign each subject to one of several categories.

    ``counts[i, j]`` is the number of raters who put subject i in category j; every subject has the same
    number n >= 2 of ratings. With N subjects, P_i = (sum_j counts[i, j]^2 - n) / (n (n - 1)), P_bar the
    mean of P_i, p_j = sum_i counts[i, j] / (N n) and P_e = sum_j p_j^2, kappa = (P_bar - P_e) / (1 - P_e):
    1 for perfect agreement, 0 for chance agreement, negative below chance. When every rating falls in one
    category, P_e = 1 and kappa is undefined: NaN.

    Raises
    ------
    ValueError
        If ``counts`` is not a non-empty 2-D array of non-negative integers, or the subjects have different
        numbers of ratings, or fewer than two each.

    References
    ----------
    Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychol. Bull. 76(5):378-382,
    doi:10.1037/h0031619.
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.size == 0:
        raise ValueError(f"counts must be a non-empty subjects x categories table, got shape {table.shape}.")
    if np.any(table < 0) or np.any(table != np.round(table)):
        raise ValueError("counts must be non-negative whole numbers of raters.")
    raters = table.sum(axis=1)
    if np.any(raters != raters[0]):
        raise ValueError(
            f"every subject needs the same number of ratings, got {sorted(set(raters.tolist()))}."
        )
    n = float(raters[0])
    if n < 2:
        raise ValueError(f"agreement needs at least two ratings per subject, got {n:g}.")
    subject_agreement = (np.sum(table * table, axis=1) - n) / (n * (n - 1))
    category_share = table.sum(axis=0) / table.sum()
    chance_agreement = float(np.sum(category_share**2))
    if chance_agreement == 1.0:
        return float("nan")
    return (float(subject_agreement.mean()) - chance_agreement) / (1.0 - chance_agreement)


def cohen_kappa(first: ArrayLike, second: ArrayLike, *, categories: int) -> float:
    """Cohen's (unweighted) kappa of two ratings of the same subjects into ``categories`` categories.

    ``first[i]`` and ``second[i]`` are the categories (0 to ``categories`` - 1) given to subject i. With
    p_o the share of subjects rated alike and p_e = sum_j p1_j p2_j the agreement expected by chance from
    the two ratings' category shares, kappa = (p_o - p_e) / (1 - p_e). When both ratings put every subject
    in the same one category, p_e = 1 and kappa is undefined: NaN.

    Raises
    ------
    ValueError
        If the ratings differ in length, are empty, or hold a category outside [0, categories).

    References
    ----------
    Cohen (1960), "A coefficient of agreement for nominal scales", Educ. Psychol. Meas. 20(1):37-46,
    doi:10.1177/001316446002000104.

    Examples
    --------
    >>> round(cohen_kappa([0, 0, 1, 1, 2], [0, 0, 1, 2, 2], categories=3), 4)
    0.7059
    """
    a = np.asarray(first)
    b = np.asarray(second)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(f"two ratings of the same subjects are needed, got shapes {a.shape} and {b.shape}.")
    if np.any((a < 0) | (a >= categories) | (b < 0) | (b >= categories)):
        raise ValueError(f"every rating must be a category from 0 to {categories - 1}.")
    table = np.zeros((categories, categories))
    np.add.at(table, (a.astype(np.intp), b.astype(np.intp)), 1.0)
    table /= a.size
    observed = float(np.trace(table))
    chance = float(table.sum(axis=1) @ table.sum(axis=0))
    if chance == 1.0:
        return float("nan")
    return (observed - chance) / (1.0 - chance)


def bradley_terry(
    wins: ArrayLike, *, tolerance: float = 1e-10, max_iterations: int = 10_000
) -> tuple[float, ...]:
    """Maximum-likelihood Bradley-Terry strengths from a matrix of pairwise wins.

    ``wins[i, j]`` is the number of times item i was preferred to item j. The model says
    P(i beats j) = p_i / (p_i + p_j); the maximum-likelihood strengths solve the score equations
    W_i = sum_j n_ij p_i / (p_i + p_j), with W_i the wins of i and n_ij = wins[i, j] + wins[j, i]. They are
    found by Hunter's minorisation-maximisation update p_i <- W_i / sum_j n_ij / (p_i + p_j), stopped
    when no log-strength moves by more than ``tolerance``, and normalised to geometric mean 1 (the
    log-strengths sum to 0; only ratios are identified).

    The maximum exists and is unique only when, for every split of the items into two groups, some item
    of each group beats some item of the other (the directed "beats" graph is strongly connected). An item
    that never wins would have strength 0 and one that never loses infinity, so such a matrix is refused;
    adding a small pseudo-count to every compared pair is the usual remedy.

    Raises
    ------
    ValueError
        If ``wins`` is not a square matrix of at least two items with non-negative finite entries and a
        zero diagonal, or the maximum-likelihood strengths do not exist (see above).
    RuntimeError
        If the iteration has not converged within ``max_iterations``.

    References
    ----------
    Bradley & Terry (1952), Biometrika 39(3/4):324-345; Hunter (2004), "MM algorithms for generalized
    Bradley-Terry models", Ann. Statist. 32(1):384-406, doi:10.1214/aos/1079120141.
    """
    matrix = _check_wins(wins)
    total_wins = matrix.sum(axis=1)
    comparisons = matrix + matrix.T
    strengths = np.ones(matrix.shape[0])
    for _ in range(max_iterations):
        updated = total_wins / np.sum(comparisons / (strengths[:, None] + strengths[None, :]), axis=1)
        updated /= math.exp(float(np.mean(np.log(updated))))
        change = float(np.max(np.abs(np.log(updated) - np.log(strengths))))
        strengths = updated
        if change < tolerance:
            return tuple(float(strength) for strength in strengths)
    raise RuntimeError(f"Bradley-Terry strengths did not converge within {max_iterations} iterations.")


def _rank_correlation_rows(first: FloatArray, second: FloatArray) -> FloatArray:
    """Spearman's rho of each row pair; NaN where a row is constant."""
    return _rhos(_centred_ranks(first), _centred_ranks(second))


def _centred_ranks(rows: FloatArray) -> FloatArray:
    """Each row's mid-ranks minus their mean."""
    ranks = np.asarray(rankdata(rows, axis=1), dtype=np.float64)
    ranks -= ranks.mean(axis=1, keepdims=True)
    return ranks


def _rhos(first_ranks: FloatArray, second_ranks: FloatArray) -> FloatArray:
    """Pearson's correlation of each row pair of centred ranks; NaN where a row is constant."""
    spread = np.sqrt(np.sum(first_ranks**2, axis=1) * np.sum(second_ranks**2, axis=1))
    covariance = np.sum(first_ranks * second_ranks, axis=1)
    coefficients = np.full(first_ranks.shape[0], np.nan)
    defined = spread > 0
    coefficients[defined] = covariance[defined] / spread[defined]
    return coefficients


def _check_counts(successes: int, n: int) -> None:
    if n < 0:
        raise ValueError(f"the number of trials cannot be negative, got n = {n}.")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie between 0 and n = {n}, got {successes}.")


def _check_wins(wins: ArrayLike) -> FloatArray:
    matrix = np.asarray(wins, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
        raise ValueError(f"wins must be a square matrix of at least two items, got shape {matrix.shape}.")
    if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
        raise ValueError("wins must be non-negative finite counts.")
    if np.any(np.diag(matrix) != 0):
        raise ValueError("an item cannot beat itself: the diagonal of wins must be zero.")
    never_wins = np.flatnonzero(matrix.sum(axis=1) == 0)
    if never_wins.size > 0:
        raise ValueError(
            f"item {int(never_wins[0])} never wins, so its maximum-likelihood strength is 0; "
            "add a pseudo-count to every compared pair."
        )
    never_loses = np.flatnonzero(matrix.sum(axis=0) == 0)
    if never_loses.size > 0:
        raise ValueError(
            f"item {int(never_loses[0])} never loses, so its maximum-likelihood strength is infinite; "
            "add a pseudo-count to every compared pair."
        )
    components, _ = connected_components(matrix > 0, directed=True, connection="strong")
    if components > 1:
        raise ValueError(
            "the items split into groups where one group never beats the other, so no finite "
            "maximum-likelihood strengths exist; add a pseudo-count to every compared pair."
        )
    return matrix
