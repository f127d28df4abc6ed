"""Lesion volume as a biomarker: its agreement with the reference, and its correlation with clinical scores.

- :func:`icc_agreement`: the intraclass correlation ICC(2,1), two-way random effects, absolute agreement,
  single measurement, with its 95% interval: does the algorithm's volume agree with the reference's?
- :func:`bland_altman`: the bias of the algorithm's volumes against the reference's and the 95% limits of
  agreement, each with its confidence interval.
- :func:`clinical_correlations`: Spearman's rho of per-case values (e.g. predicted volume) with each
  clinical score (NIHSS at admission, 90-day mRS), with bootstrap intervals.
- :func:`agreement_with_reference` and :func:`correlations_beside_reference`: a per-case biomarker
  (lesion volume, lesion count) of an algorithm against the reference annotation's: ICC and Bland-Altman,
  and each clinical correlation beside the reference's with their paired difference (DeepISLES's "as good
  as the experts" comparison).

Pure NumPy and SciPy, no Django: the leaderboards call these, and so can a script on an organizer's laptop.
Every function raises ``ValueError`` with a sentence for unusable input.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import f as f_distribution
from scipy.stats import t as t_distribution

from evaluation.stats import (
    Correlation,
    CorrelationDifference,
    spearman_beside_reference_with_ci,
    spearman_with_ci,
)

__all__ = [
    "MIN_CORRELATION_PAIRS",
    "Agreement",
    "BlandAltman",
    "CorrelationBesideReference",
    "IntraclassCorrelation",
    "agreement_with_reference",
    "bland_altman",
    "clinical_correlations",
    "correlations_beside_reference",
    "icc_agreement",
]

K = TypeVar("K")

MIN_CORRELATION_PAIRS = 3
"""A rank correlation on fewer complete pairs says nothing; such a clinical score is left out."""


@dataclass(frozen=True)
class IntraclassCorrelation:
    """An intraclass correlation with its confidence interval, the F test of ICC = 0, and its sizes."""

    coefficient: float
    interval: tuple[float, float]
    f_statistic: float
    p_value: float
    subjects: int
    raters: int


def icc_agreement(ratings: ArrayLike, *, confidence: float = 0.95) -> IntraclassCorrelation:
    """ICC(2,1) (McGraw & Wong's ICC(A,1)): two-way random effects, absolute agreement, single rater.

    ``ratings[i, j]`` is rater j's measurement of subject i, e.g. column 0 the reference lesion volume and
    column 1 the algorithm's, one row per case. With n subjects, k raters and the two-way ANOVA mean
    squares MS_R (subjects), MS_C (raters) and MS_E (residual):

        ICC(2,1) = (MS_R - MS_E) / (MS_R + (k - 1) MS_E + k (MS_C - MS_E) / n)

    Why this form: the question is whether the algorithm's volume can stand in for the reference's, so a
    systematic offset (an algorithm that always adds 10 ml) must lower the coefficient. The consistency
    forms (ICC(3,1), ICC(C,1)) leave the rater effect MS_C out and would score that algorithm perfect; the
    one-way ICC(1,1) does not separate raters from error. The raters (reference, algorithm) are taken as a
    sample of possible raters (random), as in method-comparison studies, so the interval is the one for
    the two-way random model.

    The interval is McGraw & Wong's (1996, Table 7, case 2A), with Satterthwaite's degrees of freedom, as
    Shrout & Fleiss (1979) give it; ``f_statistic`` = MS_R / MS_E and its p-value test ICC = 0 on
    (n - 1, (n - 1)(k - 1)) degrees of freedom. Range (-1, 1]: 1 is perfect agreement.

    Edge cases: rows with a NaN are dropped (a case without a volume). When every measurement is the same
    (MS_R = MS_C = MS_E = 0) the coefficient is undefined: NaN, with a NaN interval and p-value.

    Parameters
    ----------
    ratings : array of shape (subjects, raters)
    confidence : float
        Coverage of the interval, in (0, 1).

    Raises
    ------
    ValueError
        If ``ratings`` is not 2-D with at least 2 raters, fewer than 2 complete subjects remain, or
        ``confidence`` is outside (0, 1).

    References
    ----------
    Shrout & Fleiss (1979), "Intraclass correlations: uses in assessing rater reliability", Psychol. Bull.
    86(2):420-428, doi:10.1037/0033-2909.86.2.420 (worked example, Table 4: ICC(2,1) = 0.29);
    McGraw & Wong (1996), "Forming inferences about some intraclass correlation coefficients", Psychol.
    Methods 1(1):30-46, doi:10.1037/1082-989X.1.1.30; Koo & Li (2016), J. Chiropr. Med. 15(2):155-163 on
    choosing the form.

    Examples
    --------
    >>> round(icc_agreement([[10.0, 12.0], [20.0, 21.0], [40.0, 44.0]]).coefficient, 3)
    0.986
    """
    table = np.asarray(ratings, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] < 2:
        raise ValueError(
            f"ratings must be a subjects x raters table with 2 raters or more, got {table.shape}."
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    table = table[~np.isnan(table).any(axis=1)]
    n, k = table.shape
    if n < 2:
        raise ValueError(f"an intraclass correlation needs at least 2 complete subjects, got {n}.")
    grand = float(table.mean())
    ms_subjects = k * float(np.sum((table.mean(axis=1) - grand) ** 2)) / (n - 1)
    ms_raters = n * float(np.sum((table.mean(axis=0) - grand) ** 2)) / (k - 1)
    residual = table - table.mean(axis=1, keepdims=True) - table.mean(axis=0, keepdims=True) + grand
    ms_error = float(np.sum(residual**2)) / ((n - 1) * (k - 1))
    denominator = ms_subjects + (k - 1) * ms_error + k * (ms_raters - ms_error) / n
    if denominator == 0.0:
        nan = float("nan")
        return IntraclassCorrelation(nan, (nan, nan), nan, nan, n, k)
    icc = (ms_subjects - ms_error) / denominator
    df_subjects, df_error = n - 1, (n - 1) * (k - 1)
    f_statistic = ms_subjects / ms_error if ms_error > 0 else math.inf
    p_value = float(f_distribution.sf(f_statistic, df_subjects, df_error)) if ms_error > 0 else 0.0
    return IntraclassCorrelation(
        coefficient=icc,
        interval=_icc_agreement_interval(
            icc=icc,
            n=n,
            k=k,
            ms_subjects=ms_subjects,
            ms_raters=ms_raters,
            ms_error=ms_error,
            confidence=confidence,
        ),
        f_statistic=f_statistic,
        p_value=p_value,
        subjects=n,
        raters=k,
    )


def _icc_agreement_interval(
    *, icc: float, n: int, k: int, ms_subjects: float, ms_raters: float, ms_error: float, confidence: float
) -> tuple[float, float]:
    """McGraw & Wong's interval of ICC(A,1) with Satterthwaite's approximate degrees of freedom."""
    if ms_error == 0.0:
        return (icc, icc)
    tail = (1.0 - confidence) / 2.0
    f_raters = ms_raters / ms_error
    shared = n * (1 + (k - 1) * icc) - k * icc
    df = (
        (n - 1)
        * (k - 1)
        * (k * icc * f_raters + shared) ** 2
        / ((n - 1) * k**2 * icc**2 * f_raters**2 + shared**2)
    )
    f_upper = float(f_distribution.isf(tail, n - 1, df))
    f_lower = float(f_distribution.isf(tail, df, n - 1))
    spread = k * ms_raters + (k * n - k - n) * ms_error
    low = n * (ms_subjects - f_upper * ms_error) / (f_upper * spread + n * ms_subjects)
    high = n * (f_lower * ms_subjects - ms_error) / (spread + n * f_lower * ms_subjects)
    return (low, high)


@dataclass(frozen=True)
class BlandAltman:
    """The mean difference (bias) and 95% limits of agreement, each with a confidence interval."""

    bias: float
    sd: float
    lower_limit: float
    upper_limit: float
    bias_interval: tuple[float, float]
    lower_limit_interval: tuple[float, float]
    upper_limit_interval: tuple[float, float]
    pairs: int


def bland_altman(reference: ArrayLike, measured: ArrayLike, *, confidence: float = 0.95) -> BlandAltman:
    """Bland-Altman agreement of ``measured`` (e.g. predicted lesion volume) with ``reference``.

    With d_i = measured_i - reference_i over n pairs, the bias is mean(d), sd the standard deviation of d
    (n - 1 in the denominator) and the 95% limits of agreement are bias -/+ 1.96 sd. The intervals use the
    t distribution with n - 1 degrees of freedom: bias +- t sqrt(sd^2 / n), and each limit +- t
    sqrt(3 sd^2 / n) (the approximate standard error of a limit, Bland & Altman 1986, section 5); their
    coverage is ``confidence``. The limits themselves stay at 1.96 sd whatever ``confidence`` is.

    Edge cases: pairs with a NaN on either side are dropped. One pair: the bias is its difference, the sd,
    the limits and every interval NaN (no spread to estimate).

    Raises
    ------
    ValueError
        If the samples differ in length, no complete pair remains, or ``confidence`` is outside (0, 1).

    References
    ----------
    Bland & Altman (1986), "Statistical methods for assessing agreement between two methods of clinical
    measurement", Lancet 327(8476):307-310, doi:10.1016/S0140-6736(86)90837-8.

    Examples
    --------
    >>> result = bland_altman([10.0, 20.0, 40.0], [12.0, 18.5, 47.0])
    >>> round(result.bias, 2), round(result.upper_limit, 2)
    (2.5, 10.87)
    """
    first = np.asarray(reference, dtype=np.float64).ravel()
    second = np.asarray(measured, dtype=np.float64).ravel()
    if first.shape != second.shape:
        raise ValueError(f"the measurements must be paired, got {first.size} and {second.size} values.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    complete = ~(np.isnan(first) | np.isnan(second))
    differences = second[complete] - first[complete]
    n = int(differences.size)
    if n == 0:
        raise ValueError("Bland-Altman limits need at least one complete pair of measurements.")
    bias = float(differences.mean())
    nan = float("nan")
    if n == 1:
        return BlandAltman(bias, nan, nan, nan, (nan, nan), (nan, nan), (nan, nan), 1)
    sd = float(differences.std(ddof=1))
    t = float(t_distribution.ppf(1.0 - (1.0 - confidence) / 2.0, n - 1))
    lower, upper = bias - 1.96 * sd, bias + 1.96 * sd
    bias_half = t * sd / math.sqrt(n)
    limit_half = t * math.sqrt(3.0 * sd * sd / n)
    return BlandAltman(
        bias=bias,
        sd=sd,
        lower_limit=lower,
        upper_limit=upper,
        bias_interval=(bias - bias_half, bias + bias_half),
        lower_limit_interval=(lower - limit_half, lower + limit_half),
        upper_limit_interval=(upper - limit_half, upper + limit_half),
        pairs=n,
    )


def clinical_correlations(
    per_case: Mapping[str, float],
    clinical_scores: Mapping[str, Mapping[str, float]],
    *,
    samples: int = 1000,
    seed: int = 0,
) -> dict[str, Correlation]:
    """Spearman's rho (:func:`evaluation.stats.spearman_with_ci`) of a per-case value with each clinical
    score, by the score's label.

    ``per_case`` maps a case to its value (e.g. the predicted lesion volume in ml); ``clinical_scores``
    maps a score's label (e.g. "NIHSS at admission") to case -> score. Only the cases present in both
    are paired. A score with fewer than :data:`MIN_CORRELATION_PAIRS` pairs is left out of the result.
    Every score uses the same ``seed``, so a rerun gives the same intervals.
    """
    correlations = {}
    for label, by_case in clinical_scores.items():
        pairs = [(per_case[case], score) for case, score in by_case.items() if case in per_case]
        if len(pairs) < MIN_CORRELATION_PAIRS:
            continue
        values, scores = zip(*pairs, strict=True)
        correlations[label] = spearman_with_ci(values, scores, samples=samples, seed=seed)
    return correlations


@dataclass(frozen=True)
class Agreement:
    """A per-case biomarker's agreement with the reference's over the ``cases`` both have: ICC(A,1) (None
    under 2 cases) and Bland-Altman (None without a case)."""

    icc: IntraclassCorrelation | None
    bland_altman: BlandAltman | None
    cases: int


def agreement_with_reference(reference: Mapping[str, float], measured: Mapping[str, float]) -> Agreement:
    """:func:`icc_agreement` and :func:`bland_altman` of ``measured`` against ``reference``, both case ->
    value (e.g. lesion volume in ml, or lesion count), on the cases present in both, in case order.

    >>> reference, measured = {"a": 10.0, "b": 20.0, "c": 40.0}, {"a": 12.0, "b": 21.0, "c": 44.0}
    >>> result = agreement_with_reference(reference, measured)
    >>> round(result.icc.coefficient, 3), round(result.bland_altman.bias, 2)
    (0.986, 2.33)
    """
    cases = sorted(case for case in measured if case in reference)
    references = [reference[case] for case in cases]
    measurements = [measured[case] for case in cases]
    return Agreement(
        icc=icc_agreement(list(zip(references, measurements, strict=True))) if len(cases) >= 2 else None,
        bland_altman=bland_altman(references, measurements) if cases else None,
        cases=len(cases),
    )


@dataclass(frozen=True)
class CorrelationBesideReference:
    """A measurement's correlation with a clinical score, the reference's on the same cases, and how much
    they differ (measured minus reference, with its paired bootstrap interval)."""

    correlation: Correlation
    reference: Correlation
    difference: CorrelationDifference


def correlations_beside_reference(
    reference: Mapping[str, float],
    measurements: Mapping[K, Mapping[str, float]],
    clinical_scores: Mapping[str, Mapping[str, float]],
    *,
    samples: int = 1000,
    seed: int = 0,
) -> dict[K, dict[str, CorrelationBesideReference]]:
    """Per measurement (e.g. per submission, each case -> lesion volume) and clinical score label:
    Spearman's rho of the measurement and of ``reference`` (case -> value) with the score, on the same
    cases (those present in all three), and their difference.

    Why the same cases: a reference correlation over more patients than the algorithm's would compare two
    populations, not two measurements. Every correlation and difference is
    :func:`evaluation.stats.spearman_beside_reference_with_ci`'s, all from ``seed``; measurements of the
    same cases share one bootstrap of them (the page compares dozens of submissions, usually on every
    case). A score with fewer than :data:`MIN_CORRELATION_PAIRS` such cases is left out of a
    measurement's result.
    """
    compared: dict[K, dict[str, CorrelationBesideReference]] = {key: {} for key in measurements}
    for label, by_case in clinical_scores.items():
        groups: dict[tuple[str, ...], list[K]] = {}
        for key, measured in measurements.items():
            cases = tuple(sorted(case for case in by_case if case in measured and case in reference))
            if len(cases) >= MIN_CORRELATION_PAIRS:
                groups.setdefault(cases, []).append(key)
        for cases, keys in groups.items():
            reference_correlation, results = spearman_beside_reference_with_ci(
                [reference[case] for case in cases],
                [[measurements[key][case] for case in cases] for key in keys],
                [by_case[case] for case in cases],
                samples=samples,
                seed=seed,
            )
            for key, (correlation, difference) in zip(keys, results, strict=True):
                compared[key][label] = CorrelationBesideReference(
                    correlation=correlation, reference=reference_correlation, difference=difference
                )
    return compared
