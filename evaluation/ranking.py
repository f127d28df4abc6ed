"""Rank challenge submissions from their per-case metric values, and measure how far to trust the ranking.

Inputs are plain data so that the portal's leaderboards app (or an organiser's notebook) can call this
module without Django: a :data:`ScoreTable` maps a submission id to a case id to a metric name to a value,
and each ranked metric is a :class:`RankedMetric` that names its better direction. A case absent from a
submission's mapping, a metric absent from a case's mapping and a NaN value all mean "missing".

Final ranks follow the "standard competition" convention: tied submissions share the smallest rank and
the next rank is skipped ("1, 2, 2, 4"). Scores are compared after rounding to nine decimals, so ties in
exact arithmetic stay ties despite floating-point noise.

References
----------
Maier-Hein et al. (2018), "Why rankings of biomedical image analysis competitions should be interpreted
with care", Nature Communications 9:5217, doi:10.1038/s41467-018-07619-7 (rank-then-aggregate,
aggregate-then-rank and bootstrap rank stability).
Wiesenfarth et al. (2021), "Methods and open-source toolkit for analyzing and visualizing challenge
results", Scientific Reports 11:2369, doi:10.1038/s41598-021-82017-6 (bootstrap with Kendall's tau).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata, wilcoxon

__all__ = [
    "PairwiseComparison",
    "PairwiseTests",
    "RankStability",
    "RankedMetric",
    "Ranking",
    "RankingMethod",
    "ScoreTable",
    "SubmissionRank",
    "SubmissionRankStability",
    "aggregate_then_rank",
    "bootstrap_rank_stability",
    "holm_adjust",
    "pairwise_wilcoxon",
    "rank_then_aggregate",
]

ScoreTable: TypeAlias = Mapping[str, Mapping[str, Mapping[str, float]]]
"""Submission id -> case id -> metric name -> value; an absent entry or NaN is a missing value."""

RankingMethod: TypeAlias = Literal["rank_then_aggregate", "aggregate_then_rank"]
ZeroMethod: TypeAlias = Literal["wilcox", "zsplit", "pratt"]

FloatArray: TypeAlias = NDArray[np.float64]

_TIE_DECIMALS = 9
# Bootstrap samples are processed in blocks so that the pairwise sign matrix of Kendall's tau stays small.
_TAU_BLOCK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class RankedMetric:
    """A metric that enters the ranking.

    ``worst`` is the value a missing case takes in :func:`aggregate_then_rank` (e.g. 0.0 for Dice); the
    rank-based methods never need it because a missing case simply ranks last.
    """

    name: str
    higher_is_better: bool
    worst: float | None = None


@dataclass(frozen=True)
class SubmissionRank:
    """One leaderboard row: ``score`` is the mean rank (lower is better), ``rank`` starts at 1."""

    submission_id: str
    score: float
    rank: int
    metric_ranks: Mapping[str, float]


@dataclass(frozen=True)
class Ranking:
    """A full ranking, best first (ties ordered by submission id)."""

    method: RankingMethod
    cases: tuple[str, ...]
    entries: tuple[SubmissionRank, ...]

    def for_submission(self, submission_id: str) -> SubmissionRank:
        """Return the row of ``submission_id``; raise ``KeyError`` if it was not ranked."""
        for entry in self.entries:
            if entry.submission_id == submission_id:
                return entry
        raise KeyError(submission_id)


@dataclass(frozen=True)
class SubmissionRankStability:
    """How one submission's rank varies over bootstrap samples of the cases.

    ``rank_counts[r - 1]`` is the number of samples in which the submission ranked ``r``; ``rank_interval``
    is the central interval of that distribution at the requested confidence, in observed ranks.
    """

    submission_id: str
    full_rank: int
    rank_counts: tuple[int, ...]
    median_rank: float
    rank_interval: tuple[int, int]


@dataclass(frozen=True)
class RankStability:
    """Bootstrap rank stability; ``kendall_tau`` holds one value per sample, NaN where it is undefined.

    ``sample_ranks[b]`` holds sample b's final ranks in the order of ``submissions`` (for blob plots).
    """

    method: RankingMethod
    samples: int
    seed: int
    confidence: float
    submissions: tuple[SubmissionRankStability, ...]
    sample_ranks: tuple[tuple[int, ...], ...]
    kendall_tau: tuple[float, ...]
    kendall_tau_median: float
    kendall_tau_quartiles: tuple[float, float]


@dataclass(frozen=True)
class PairwiseComparison:
    """One Wilcoxon signed-rank test between two submissions on their common cases.

    ``better`` is the submission whose paired differences carry the larger signed-rank sum in the better
    direction, or None when neither does; read it together with ``p_adjusted``.
    """

    first: str
    second: str
    cases: int
    statistic: float
    p_value: float
    p_adjusted: float
    better: str | None


@dataclass(frozen=True)
class PairwiseTests:
    """All pairwise tests on one metric, with Holm-adjusted p-values as a matrix (diagonal 1.0)."""

    metric: str
    submission_ids: tuple[str, ...]
    comparisons: tuple[PairwiseComparison, ...]
    adjusted_p_values: tuple[tuple[float, ...], ...]

    def significantly_better(self, *, alpha: float = 0.05) -> tuple[tuple[bool, ...], ...]:
        """Matrix whose entry ``[i][j]`` is True when submission i beats j at adjusted level ``alpha``."""
        index = {submission_id: i for i, submission_id in enumerate(self.submission_ids)}
        size = len(self.submission_ids)
        matrix = [[False] * size for _ in range(size)]
        for comparison in self.comparisons:
            if comparison.better is not None and comparison.p_adjusted < alpha:
                worse = comparison.second if comparison.better == comparison.first else comparison.first
                matrix[index[comparison.better]][index[worse]] = True
        return tuple(tuple(row) for row in matrix)


def rank_then_aggregate(
    scores: ScoreTable, metrics: Sequence[RankedMetric], *, cases: Sequence[str] | None = None
) -> Ranking:
    """Rank submissions per case and metric, then average the ranks over metrics and cases.

    For each case and metric the submissions are ranked 1 (best) to n in the metric's better direction;
    tied values share the mean of their ranks (``scipy.stats.rankdata(method="average")``). A submission
    missing the case or the value (absent or NaN) ranks after every submission that has one, and the
    missing ones share the mean of those last ranks. Infinite values are ordinary values. The ranks are
    averaged over metrics, then over cases; that mean is the score (lower is better) and gives the final
    rank, ties sharing the smallest rank ("1, 2, 2, 4").

    Parameters
    ----------
    scores : ScoreTable
        Submission id -> case id -> metric name -> value.
    metrics : sequence of RankedMetric
        The metrics to rank on, each with its direction; names must be unique.
    cases : sequence of str, optional
        The cases to rank on (e.g. every case of the hidden test set, so that a case no submission
        scored still counts). Default: every case id that appears in ``scores``.

    Returns
    -------
    Ranking
        Best first; ``metric_ranks`` holds each metric's rank averaged over cases.

    Raises
    ------
    ValueError
        If there are no submissions, no metrics, duplicate metric names or no cases.

    References
    ----------
    Maier-Hein et al. (2018), doi:10.1038/s41467-018-07619-7; the ISLES'22 and ISLES'24 ranking scheme.

    Examples
    --------
    >>> table = {"a": {"c1": {"dice": 0.9}}, "b": {"c1": {"dice": 0.5}}}
    >>> [e.submission_id for e in rank_then_aggregate(table, [RankedMetric("dice", True)]).entries]
    ['a', 'b']
    """
    submission_ids, case_ids, values = _value_cube(scores, metrics, cases)
    case_metric_ranks = _case_metric_ranks(values, metrics)
    score = case_metric_ranks.mean(axis=(0, 2))
    metric_ranks = case_metric_ranks.mean(axis=0)
    return _ranking("rank_then_aggregate", submission_ids, case_ids, score, metric_ranks, metrics)


def aggregate_then_rank(
    scores: ScoreTable, metrics: Sequence[RankedMetric], *, cases: Sequence[str] | None = None
) -> Ranking:
    """Average each metric over cases, rank the submissions on each mean, then average those ranks.

    A missing value (absent case or metric, or NaN) is replaced by the metric's ``worst`` before
    averaging, so every submission is averaged over the same cases. Tied means share the mean rank; the
    mean of the metric ranks is the score (lower is better) and gives the final rank, ties sharing the
    smallest rank ("1, 2, 2, 4"). This can disagree with :func:`rank_then_aggregate`: one very bad case
    weighs more in a mean than in a rank.

    Parameters
    ----------
    scores : ScoreTable
        Submission id -> case id -> metric name -> value.
    metrics : sequence of RankedMetric
        The metrics to rank on; a metric needs ``worst`` when some submission misses a value of it.
    cases : sequence of str, optional
        The cases to average over. Default: every case id that appears in ``scores``.

    Returns
    -------
    Ranking
        Best first; ``metric_ranks`` holds each metric's rank of the mean.

    Raises
    ------
    ValueError
        If there are no submissions, metrics or cases, if metric names repeat, if a value is missing for
        a metric without ``worst``, or if a value (or ``worst``) is infinite, which makes means unrankable.

    References
    ----------
    Maier-Hein et al. (2018), doi:10.1038/s41467-018-07619-7.
    """
    submission_ids, case_ids, values = _value_cube(scores, metrics, cases)
    filled = _fill_worst(values, metrics, submission_ids, case_ids)
    metric_ranks = _rank_metric_means(filled.mean(axis=0), metrics)
    score = metric_ranks.mean(axis=-1)
    return _ranking("aggregate_then_rank", submission_ids, case_ids, score, metric_ranks, metrics)


def bootstrap_rank_stability(
    scores: ScoreTable,
    metrics: Sequence[RankedMetric],
    *,
    method: RankingMethod = "rank_then_aggregate",
    cases: Sequence[str] | None = None,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> RankStability:
    """Resample the cases with replacement and recompute the ranking on each sample.

    Each sample draws as many cases as there are, with replacement, from ``numpy.random.default_rng(seed)``
    (equivalently, multinomial counts per case), and ranks the submissions with ``method`` exactly as the
    full ranking does. For rank-then-aggregate the per-case ranks do not depend on which other cases are
    drawn, so they are computed once and each sample only re-weights them. Kendall's tau-b between each
    sample's final ranks and the full ranking measures agreement; it is NaN when either ranking is all
    ties (e.g. identical submissions, or a single one), and the median and quartiles ignore NaN values
    (all NaN -> NaN).

    Parameters
    ----------
    scores, metrics, cases
        As in :func:`rank_then_aggregate` / :func:`aggregate_then_rank`.
    method : {"rank_then_aggregate", "aggregate_then_rank"}
        The ranking scheme to bootstrap.
    samples : int
        Number of bootstrap samples (at least 1).
    seed : int
        Seed of the NumPy generator; the same seed gives the same result.
    confidence : float
        Coverage of each submission's central rank interval, in (0, 1).

    Returns
    -------
    RankStability
        Per submission (best first) the rank distribution, its median and interval; per sample Kendall's
        tau with the full ranking, and their median and quartiles.

    Raises
    ------
    ValueError
        For the inputs the chosen ranking refuses, ``samples`` < 1 or ``confidence`` outside (0, 1).

    References
    ----------
    Wiesenfarth et al. (2021), doi:10.1038/s41598-021-82017-6; Kendall (1945), "The treatment of ties in
    ranking problems", Biometrika 33(3):239-251 (tau-b).
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    submission_ids, case_ids, values = _value_cube(scores, metrics, cases)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(case_ids), np.full(len(case_ids), 1.0 / len(case_ids)), size=samples)
    weights = draws.astype(np.float64) / len(case_ids)
    if method == "rank_then_aggregate":
        per_case = _case_metric_ranks(values, metrics).mean(axis=2)
        full_score = per_case.mean(axis=0)
        sample_scores = weights @ per_case
    else:
        filled = _fill_worst(values, metrics, submission_ids, case_ids)
        full_score = _rank_metric_means(filled.mean(axis=0), metrics).mean(axis=-1)
        sample_means = np.einsum("bc,csm->bsm", weights, filled)
        sample_scores = _rank_metric_means(sample_means, metrics).mean(axis=-1)
    full_ranks = _competition_ranks(full_score)
    sample_ranks = _competition_ranks(sample_scores)
    tau = _kendall_tau_to(full_ranks.astype(np.float64), sample_ranks.astype(np.float64))
    rows = _stability_rows(submission_ids, full_ranks, sample_ranks, confidence)
    best_first = [submission_ids.index(row.submission_id) for row in rows]
    return RankStability(
        method=method,
        samples=samples,
        seed=seed,
        confidence=confidence,
        submissions=rows,
        sample_ranks=tuple(tuple(int(rank) for rank in ranks) for ranks in sample_ranks[:, best_first]),
        kendall_tau=tuple(float(value) for value in tau),
        kendall_tau_median=_nan_quantile(tau, 0.5),
        kendall_tau_quartiles=(_nan_quantile(tau, 0.25), _nan_quantile(tau, 0.75)),
    )


def pairwise_wilcoxon(
    scores: ScoreTable,
    metric: str,
    *,
    higher_is_better: bool,
    zero_method: ZeroMethod = "wilcox",
) -> PairwiseTests:
    """Wilcoxon signed-rank test of every pair of submissions on one metric, Holm-corrected across pairs.

    Each pair is tested on the cases where both submissions have a finite value (missing, NaN and
    infinite values leave the case out of that pair). Zero differences follow ``zero_method``: "wilcox"
    (default) drops them before ranking, "zsplit" splits their ranks between both signs, "pratt" ranks
    them and then drops them. scipy chooses the exact or the normal-approximation p-value as its default
    ``method="auto"`` does. A pair with no common case or with all differences zero gets p = 1.0 and no
    better submission. The p-values of all pairs are adjusted with :func:`holm_adjust`.

    Parameters
    ----------
    scores : ScoreTable
        Submission id -> case id -> metric name -> value.
    metric : str
        The metric to compare.
    higher_is_better : bool
        The metric's better direction; it decides which submission of a pair is ``better``.
    zero_method : {"wilcox", "zsplit", "pratt"}
        Treatment of zero differences, passed to ``scipy.stats.wilcoxon``.

    Returns
    -------
    PairwiseTests
        One comparison per pair (submission ids in sorted order) and the adjusted p-value matrix.

    Raises
    ------
    ValueError
        If there are fewer than two submissions.

    References
    ----------
    Wilcoxon (1945), "Individual comparisons by ranking methods", Biometrics Bulletin 1(6):80-83;
    Holm (1979), "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6:65-70.
    """
    submission_ids = tuple(sorted(scores))
    if len(submission_ids) < 2:
        raise ValueError(f"pairwise tests need at least two submissions, got {len(submission_ids)}.")
    raw = [
        _wilcoxon_pair(scores, metric, first, second, higher_is_better, zero_method)
        for position, first in enumerate(submission_ids)
        for second in submission_ids[position + 1 :]
    ]
    adjusted = holm_adjust([comparison.p_value for comparison in raw])
    comparisons = tuple(
        PairwiseComparison(
            first=comparison.first,
            second=comparison.second,
            cases=comparison.cases,
            statistic=comparison.statistic,
            p_value=comparison.p_value,
            p_adjusted=p_adjusted,
            better=comparison.better,
        )
        for comparison, p_adjusted in zip(raw, adjusted, strict=True)
    )
    index = {submission_id: i for i, submission_id in enumerate(submission_ids)}
    matrix = np.ones((len(submission_ids), len(submission_ids)))
    for comparison in comparisons:
        i, j = index[comparison.first], index[comparison.second]
        matrix[i, j] = matrix[j, i] = comparison.p_adjusted
    return PairwiseTests(
        metric=metric,
        submission_ids=submission_ids,
        comparisons=comparisons,
        adjusted_p_values=tuple(tuple(float(p) for p in row) for row in matrix),
    )


def holm_adjust(p_values: Sequence[float]) -> tuple[float, ...]:
    """Holm's step-down adjustment of p-values for a family of tests, in the input order.

    With the m p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted value of p_(i) is
    ``max over k <= i of min(1, (m - k + 1) * p_(k))``. Rejecting the hypotheses whose adjusted value is
    below alpha controls the family-wise error rate at alpha. An empty sequence gives an empty tuple.

    Raises
    ------
    ValueError
        If a p-value is NaN or outside [0, 1].

    References
    ----------
    Holm (1979), Scand. J. Statist. 6:65-70.

    Examples
    --------
    >>> [round(p, 6) for p in holm_adjust([0.01, 0.04, 0.03, 0.005])]
    [0.03, 0.06, 0.06, 0.02]
    """
    values = np.asarray(p_values, dtype=np.float64)
    if np.any(np.isnan(values)) or np.any((values < 0.0) | (values > 1.0)):
        raise ValueError(f"p-values must lie in [0, 1], got {list(p_values)}.")
    order = np.argsort(values, kind="stable")
    multipliers = len(values) - np.arange(len(values))
    stepped = np.maximum.accumulate(np.minimum(1.0, values[order] * multipliers))
    adjusted = np.empty_like(values)
    adjusted[order] = stepped
    return tuple(float(p) for p in adjusted)


def _value_cube(
    scores: ScoreTable, metrics: Sequence[RankedMetric], cases: Sequence[str] | None
) -> tuple[tuple[str, ...], tuple[str, ...], FloatArray]:
    """Return sorted submission ids, case ids and values as cases x submissions x metrics, NaN = missing."""
    if len(scores) == 0:
        raise ValueError("there are no submissions to rank.")
    if len(metrics) == 0:
        raise ValueError("at least one metric is needed to rank submissions.")
    names = [metric.name for metric in metrics]
    if len(set(names)) != len(names):
        raise ValueError(f"metric names must be unique, got {names}.")
    submission_ids = tuple(sorted(scores))
    if cases is None:
        case_ids = tuple(sorted({case_id for per_case in scores.values() for case_id in per_case}))
    else:
        case_ids = tuple(cases)
    if len(case_ids) == 0:
        raise ValueError("there are no cases to rank on.")
    values = np.full((len(case_ids), len(submission_ids), len(metrics)), np.nan)
    for s, submission_id in enumerate(submission_ids):
        per_case = scores[submission_id]
        for c, case_id in enumerate(case_ids):
            per_metric = per_case.get(case_id, {})
            for m, name in enumerate(names):
                values[c, s, m] = per_metric.get(name, np.nan)
    return submission_ids, case_ids, values


def _case_metric_ranks(values: FloatArray, metrics: Sequence[RankedMetric]) -> FloatArray:
    """Rank submissions per case and metric (axis 1); missing values share the last ranks."""
    keys = values.copy()
    for m, metric in enumerate(metrics):
        if metric.higher_is_better:
            keys[:, :, m] = -keys[:, :, m]
    ranks = np.asarray(rankdata(keys, method="average", axis=1, nan_policy="omit"), dtype=np.float64)
    missing = np.isnan(values)
    present_count = (~missing).sum(axis=1, keepdims=True)
    last_ranks_mean = (present_count + 1 + values.shape[1]) / 2.0
    return np.where(missing, np.broadcast_to(last_ranks_mean, values.shape), ranks)


def _fill_worst(
    values: FloatArray,
    metrics: Sequence[RankedMetric],
    submission_ids: tuple[str, ...],
    case_ids: tuple[str, ...],
) -> FloatArray:
    """Replace missing values by each metric's ``worst``; refuse infinite values and missing ``worst``."""
    filled = values.copy()
    for m, metric in enumerate(metrics):
        missing = np.isnan(values[:, :, m])
        if np.any(missing):
            if metric.worst is None:
                c, s = (int(index[0]) for index in np.nonzero(missing))
                raise ValueError(
                    f"submission {submission_ids[s]!r} has no {metric.name!r} value for case "
                    f"{case_ids[c]!r}; give the metric a worst value to average over the same cases."
                )
            filled[:, :, m][missing] = metric.worst
        if not np.all(np.isfinite(filled[:, :, m])):
            raise ValueError(
                f"metric {metric.name!r} has an infinite value; aggregate-then-rank needs finite values "
                "(rank-then-aggregate ranks infinite values as they are)."
            )
    return filled


def _rank_metric_means(means: FloatArray, metrics: Sequence[RankedMetric]) -> FloatArray:
    """Rank the submissions (axis -2) on each metric's mean (axis -1), ties sharing the mean rank."""
    signs = np.array([-1.0 if metric.higher_is_better else 1.0 for metric in metrics])
    keys = np.round(means * signs, _TIE_DECIMALS)
    return np.asarray(rankdata(keys, method="average", axis=-2), dtype=np.float64)


def _competition_ranks(score: FloatArray) -> NDArray[np.int64]:
    """Rank scores along the last axis, lower first, ties sharing the smallest rank ("1, 2, 2, 4")."""
    ranks = rankdata(np.round(score, _TIE_DECIMALS), method="min", axis=-1)
    return np.asarray(ranks, dtype=np.int64)


def _ranking(
    method: RankingMethod,
    submission_ids: tuple[str, ...],
    case_ids: tuple[str, ...],
    score: FloatArray,
    metric_ranks: FloatArray,
    metrics: Sequence[RankedMetric],
) -> Ranking:
    ranks = _competition_ranks(score)
    entries = [
        SubmissionRank(
            submission_id=submission_id,
            score=float(score[s]),
            rank=int(ranks[s]),
            metric_ranks={metric.name: float(metric_ranks[s, m]) for m, metric in enumerate(metrics)},
        )
        for s, submission_id in enumerate(submission_ids)
    ]
    entries.sort(key=lambda entry: (entry.rank, entry.submission_id))
    return Ranking(method=method, cases=case_ids, entries=tuple(entries))


def _kendall_tau_to(reference: FloatArray, samples: FloatArray) -> FloatArray:
    """Kendall's tau-b between ``reference`` (n,) and each row of ``samples`` (b, n); NaN when undefined."""
    first, second = np.triu_indices(reference.shape[0], k=1)
    reference_signs = np.sign(reference[first] - reference[second])
    reference_untied = float(np.sum(reference_signs**2))
    tau = np.full(samples.shape[0], np.nan)
    block = max(1, _TAU_BLOCK_ELEMENTS // max(1, first.shape[0]))
    for start in range(0, samples.shape[0], block):
        rows = samples[start : start + block]
        signs = np.sign(rows[:, first] - rows[:, second])
        denominator = np.sqrt(reference_untied * np.sum(signs**2, axis=1))
        concordance = signs @ reference_signs
        defined = denominator > 0
        tau[start : start + block][defined] = concordance[defined] / denominator[defined]
    return tau


def _stability_rows(
    submission_ids: tuple[str, ...],
    full_ranks: NDArray[np.int64],
    sample_ranks: NDArray[np.int64],
    confidence: float,
) -> tuple[SubmissionRankStability, ...]:
    tail = (1.0 - confidence) / 2.0
    rows = [
        SubmissionRankStability(
            submission_id=submission_id,
            full_rank=int(full_ranks[s]),
            rank_counts=tuple(
                int(count) for count in np.bincount(sample_ranks[:, s], minlength=len(submission_ids) + 1)[1:]
            ),
            median_rank=float(np.median(sample_ranks[:, s])),
            rank_interval=(
                int(np.quantile(sample_ranks[:, s], tail, method="inverted_cdf")),
                int(np.quantile(sample_ranks[:, s], 1.0 - tail, method="inverted_cdf")),
            ),
        )
        for s, submission_id in enumerate(submission_ids)
    ]
    rows.sort(key=lambda row: (row.full_rank, row.submission_id))
    return tuple(rows)


def _nan_quantile(values: FloatArray, q: float) -> float:
    finite = values[~np.isnan(values)]
    return float(np.quantile(finite, q)) if finite.size > 0 else float("nan")


def _wilcoxon_pair(
    scores: ScoreTable,
    metric: str,
    first: str,
    second: str,
    higher_is_better: bool,
    zero_method: ZeroMethod,
) -> PairwiseComparison:
    """Test one pair without adjustment (``p_adjusted`` repeats the raw p-value)."""
    common = sorted(set(scores[first]) & set(scores[second]))
    pairs = np.array(
        [
            (scores[first][case_id].get(metric, np.nan), scores[second][case_id].get(metric, np.nan))
            for case_id in common
        ],
        dtype=np.float64,
    ).reshape(-1, 2)
    pairs = pairs[np.all(np.isfinite(pairs), axis=1)]
    differences = pairs[:, 0] - pairs[:, 1]
    nonzero = differences[differences != 0]
    if nonzero.size == 0:
        return PairwiseComparison(first, second, int(pairs.shape[0]), 0.0, 1.0, 1.0, None)
    result = wilcoxon(pairs[:, 0], pairs[:, 1], zero_method=zero_method, alternative="two-sided")
    absolute_ranks = rankdata(np.abs(nonzero))
    first_higher = float(np.sum(absolute_ranks[nonzero > 0])) - float(np.sum(absolute_ranks[nonzero < 0]))
    first_better = first_higher if higher_is_better else -first_higher
    better = first if first_better > 0 else second if first_better < 0 else None
    p_value = float(result.pvalue)
    return PairwiseComparison(
        first, second, int(pairs.shape[0]), float(result.statistic), p_value, p_value, better
    )
