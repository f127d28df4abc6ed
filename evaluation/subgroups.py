"""Performance split by case attributes: does an algorithm hold up across centres, scanners, lesion sizes?

- :func:`subgroup_means`: the mean of a per-case metric in each subgroup, with a bootstrap interval.
- :func:`subgroup_difference_test`: whether the metric differs between subgroups (Mann-Whitney U for
  two, Kruskal-Wallis H for three or more).
- :func:`lesion_volume_bin` and :func:`onset_to_imaging_bin`: the derived attributes, as named bins.

Pure NumPy and SciPy, no Django. Cases are named by strings; the caller decides which cases count.
"""

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import kruskal, mannwhitneyu

__all__ = [
    "LESION_VOLUME_BINS_ML",
    "ONSET_TO_IMAGING_BINS_H",
    "SubgroupMean",
    "SubgroupTest",
    "lesion_volume_bin",
    "onset_to_imaging_bin",
    "subgroup_difference_test",
    "subgroup_means",
]

LESION_VOLUME_BINS_ML = (5.0, 20.0, 70.0)
"""Edges of the reference lesion volume bins: "0-5 ml", "5-20 ml", "20-70 ml" and "70+ ml". 70 ml is
the core volume that limits the late-window thrombectomy trials (DEFUSE 3, doi:10.1056/NEJMoa1713973);
5 and 20 ml split the small lesions, where Dice is known to fall (ISLES'22,
doi:10.1038/s41597-022-01875-5)."""

ONSET_TO_IMAGING_BINS_H = (6.0, 24.0)
"""Edges of the onset-to-imaging bins: "0-6 h" (the early window), "6-24 h" (the late window of DAWN
and DEFUSE 3) and "24+ h"."""


@dataclass(frozen=True)
class SubgroupMean:
    """The mean of a metric over one subgroup's cases, with its bootstrap percentile interval."""

    subgroup: str
    cases: int
    mean: float
    interval: tuple[float, float]


@dataclass(frozen=True)
class SubgroupTest:
    """The test of whether a metric differs between subgroups; ``test`` is None when none could run."""

    test: Literal["mann-whitney", "kruskal-wallis"] | None
    statistic: float
    p_value: float
    subgroups: int


def subgroup_means(
    values: Mapping[str, float],
    subgroups: Mapping[str, str],
    *,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[SubgroupMean, ...]:
    """The mean of ``values`` (case -> metric) in each subgroup of ``subgroups`` (case -> subgroup name).

    The interval is the bootstrap percentile interval of the mean: each subgroup's values are resampled
    with replacement ``samples`` times (one ``numpy.random.default_rng(seed)`` for all subgroups, in the
    order returned) and the central ``confidence`` share of the resampled means is kept.

    Edge cases: a case without a subgroup, or whose value is NaN, is left out; a subgroup with one case
    has its value as mean and interval. Subgroups are returned by name, natural order of the names.

    Raises
    ------
    ValueError
        If ``samples`` < 1 or ``confidence`` is outside (0, 1).

    References
    ----------
    Efron & Tibshirani (1993), An Introduction to the Bootstrap, ch. 13 (percentile interval).

    Examples
    --------
    >>> [(group.subgroup, group.mean) for group in subgroup_means(
    ...     {"a": 1.0, "b": 0.0, "c": 0.5}, {"a": "TUM", "b": "TUM", "c": "Zurich"})]
    [('TUM', 0.5), ('Zurich', 0.5)]
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    grouped = _grouped(values, subgroups)
    rng = np.random.default_rng(seed)
    tail = (1.0 - confidence) / 2.0
    result = []
    for name, group in grouped.items():
        resampled = group[rng.integers(0, group.size, size=(samples, group.size))].mean(axis=1)
        interval = (float(np.quantile(resampled, tail)), float(np.quantile(resampled, 1.0 - tail)))
        result.append(SubgroupMean(name, int(group.size), float(group.mean()), interval))
    return tuple(result)


def subgroup_difference_test(values: Mapping[str, float], subgroups: Mapping[str, str]) -> SubgroupTest:
    """Test whether ``values`` (case -> metric) differ between the subgroups of ``subgroups``.

    Per-case segmentation metrics are bounded, skewed and often pile up at 0 (an empty prediction) or 1,
    so the tests are rank-based, not a t-test or ANOVA. With two subgroups: the two-sided Mann-Whitney U
    test (``scipy.stats.mannwhitneyu``, exact for small samples without ties, else the normal
    approximation with tie and continuity corrections); ``statistic`` is U of the first subgroup by name.
    With three or more: the Kruskal-Wallis H test (``scipy.stats.kruskal``, chi-squared with
    groups - 1 degrees of freedom, tie-corrected), its extension to k groups, which with two groups would
    only approximate what Mann-Whitney gives exactly.

    Edge cases: cases without a subgroup or with a NaN value are left out, as are subgroups left without
    cases. Fewer than two subgroups, or every value equal (no ranks to compare), run no test: ``test`` is
    None and statistic and p-value are NaN.

    References
    ----------
    Mann & Whitney (1947), Ann. Math. Statist. 18(1):50-60, doi:10.1214/aoms/1177730491; Kruskal & Wallis
    (1952), JASA 47(260):583-621, doi:10.1080/01621459.1952.10483441.

    Examples
    --------
    >>> round(subgroup_difference_test(
    ...     {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1, "e": 0.2, "f": 0.3},
    ...     {"a": "TUM", "b": "TUM", "c": "TUM", "d": "Zurich", "e": "Zurich", "f": "Zurich"},
    ... ).p_value, 3)
    0.1
    """
    groups = list(_grouped(values, subgroups).values())
    nan = float("nan")
    everything = np.concatenate(groups) if groups else np.array([])
    if len(groups) < 2 or np.all(everything == everything[0]):
        return SubgroupTest(None, nan, nan, len(groups))
    if len(groups) == 2:
        result = mannwhitneyu(groups[0], groups[1], alternative="two-sided")
        return SubgroupTest("mann-whitney", float(result.statistic), float(result.pvalue), 2)
    result = kruskal(*groups)
    return SubgroupTest("kruskal-wallis", float(result.statistic), float(result.pvalue), len(groups))


def _grouped(values: Mapping[str, float], subgroups: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Subgroup name -> its cases' values (NaN and unassigned cases left out), by name."""
    members: dict[str, list[float]] = {}
    for case, value in values.items():
        name = subgroups.get(case)
        if name is None or name == "" or math.isnan(value):
            continue
        members.setdefault(name, []).append(float(value))
    return {name: np.asarray(members[name], dtype=np.float64) for name in sorted(members, key=_natural)}


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts "5-20 ml" before "20-70 ml" and "site 2" before "site 10"."""
    parts = []
    for piece in _digit_runs(name):
        parts.append((0, int(piece)) if piece.isdigit() else (1, piece))
    return tuple(parts)


def _digit_runs(name: str) -> Sequence[str]:
    runs: list[str] = []
    for character in name:
        if runs and runs[-1][-1].isdigit() == character.isdigit():
            runs[-1] += character
        else:
            runs.append(character)
    return runs


def lesion_volume_bin(volume_ml: float) -> str:
    """The reference lesion volume's bin: "0-5 ml", "5-20 ml", "20-70 ml" or "70+ ml" (see
    :data:`LESION_VOLUME_BINS_ML`); a volume on an edge goes to the upper bin (5.0 ml is "5-20 ml"). The
    names sort in their natural order.

    Raises ``ValueError`` for a negative or NaN volume.
    """
    if math.isnan(volume_ml) or volume_ml < 0:
        raise ValueError(f"a lesion volume is a non-negative number of ml, got {volume_ml}.")
    return _bin(volume_ml, LESION_VOLUME_BINS_ML, unit="ml")


def onset_to_imaging_bin(hours: float) -> str:
    """The onset-to-imaging time's bin: "0-6 h", "6-24 h" or "24+ h" (see
    :data:`ONSET_TO_IMAGING_BINS_H`); a time on an edge goes to the upper bin.

    Raises ``ValueError`` for a negative or NaN time.
    """
    if math.isnan(hours) or hours < 0:
        raise ValueError(f"a time from onset is a non-negative number of hours, got {hours}.")
    return _bin(hours, ONSET_TO_IMAGING_BINS_H, unit="h")


def _bin(value: float, edges: Sequence[float], *, unit: str) -> str:
    for low, high in itertools.pairwise((0.0, *edges)):
        if value < high:
            return f"{low:g}-{high:g} {unit}"
    return f"{edges[-1]:g}+ {unit}"
