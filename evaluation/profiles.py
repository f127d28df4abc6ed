"""Metric profiles: which metrics a challenge reports per case, in order, and how each ranks.

A profile is data, not code: the leaderboard reads its columns, labels and directions from here, and
``evaluation.scoring`` computes its values. ``isles24`` and ``isles22`` report the same four columns and
differ only in the lesion-wise F1 rule (one-to-one IoU matching against any overlap).
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from evaluation.metrics.lesion import LesionMatching

__all__ = [
    "PREDICTED_LESION_COUNT",
    "PREDICTED_VOLUME",
    "PROFILES",
    "REFERENCE_LESION_COUNT",
    "REFERENCE_VOLUME",
    "Direction",
    "MetricColumn",
    "Profile",
    "WorstValue",
    "profile_get",
    "profile_with_volumes",
]


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher"
    LOWER_IS_BETTER = "lower"


class WorstValue(StrEnum):
    """What a case scores when its prediction is missing or unusable."""

    ZERO = "zero"
    GROUND_TRUTH_VOLUME = "ground_truth_volume"
    GROUND_TRUTH_LESION_COUNT = "ground_truth_lesion_count"
    INFINITY = "infinity"


@dataclass(frozen=True)
class MetricColumn:
    """One per-case metric of a profile: its key in results, its label, units, direction and worst value."""

    key: str
    label: str
    units: str
    direction: Direction
    worst: WorstValue


@dataclass(frozen=True)
class Profile:
    """A challenge's per-case metrics, in column order, and the lesion definition they rest on."""

    name: str
    title: str
    metrics: tuple[MetricColumn, ...]
    lesion_matching: LesionMatching
    iou_threshold: float
    connectivity: Literal[6, 18, 26]

    @property
    def metric_keys(self) -> tuple[str, ...]:
        return tuple(column.key for column in self.metrics)


_ISLES_COLUMNS = (
    MetricColumn("dice", "Dice", "", Direction.HIGHER_IS_BETTER, WorstValue.ZERO),
    MetricColumn(
        "absolute_volume_difference_ml",
        "Absolute volume difference",
        "ml",
        Direction.LOWER_IS_BETTER,
        WorstValue.GROUND_TRUTH_VOLUME,
    ),
    MetricColumn(
        "absolute_lesion_count_difference",
        "Absolute lesion count difference",
        "lesions",
        Direction.LOWER_IS_BETTER,
        WorstValue.GROUND_TRUTH_LESION_COUNT,
    ),
    MetricColumn("lesion_f1", "Lesion-wise F1", "", Direction.HIGHER_IS_BETTER, WorstValue.ZERO),
)

PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "isles24": Profile(
            name="isles24",
            title="ISLES'24: lesion F1 with one-to-one matching at IoU >= 0.2",
            metrics=_ISLES_COLUMNS,
            lesion_matching="one_to_one_iou",
            iou_threshold=0.2,
            connectivity=26,
        ),
        "isles22": Profile(
            name="isles22",
            title="ISLES'22: lesion F1 with any-overlap detection",
            metrics=_ISLES_COLUMNS,
            lesion_matching="any_overlap",
            iou_threshold=0.0,
            connectivity=26,
        ),
    }
)


def profile_get(*, name: str) -> Profile:
    """The profile called ``name``; ``ValueError`` naming the known profiles otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"There is no metric profile called {name!r}; the profiles are {known}.") from None


PREDICTED_VOLUME = "predicted_volume_ml"
REFERENCE_VOLUME = "reference_volume_ml"
PREDICTED_LESION_COUNT = "predicted_lesion_count"
REFERENCE_LESION_COUNT = "reference_lesion_count"

_VOLUME_COLUMNS = (
    MetricColumn(PREDICTED_VOLUME, "Predicted volume", "ml", Direction.LOWER_IS_BETTER, WorstValue.ZERO),
    MetricColumn(
        REFERENCE_VOLUME,
        "Reference volume",
        "ml",
        Direction.LOWER_IS_BETTER,
        WorstValue.GROUND_TRUTH_VOLUME,
    ),
    MetricColumn(
        PREDICTED_LESION_COUNT, "Predicted lesions", "lesions", Direction.LOWER_IS_BETTER, WorstValue.ZERO
    ),
    MetricColumn(
        REFERENCE_LESION_COUNT,
        "Reference lesions",
        "lesions",
        Direction.LOWER_IS_BETTER,
        WorstValue.GROUND_TRUTH_LESION_COUNT,
    ),
)


def profile_with_volumes(*, name: str) -> Profile:
    """The profile ``name`` plus the predicted and reference lesion volumes (ml) and lesion counts (the
    profile's connected components), which the portal stores with every case's scores for its volume
    plots, biomarker agreement and clinical correlations; shown, never ranked. Stored once when the case
    is scored, so no page reads a mask again to count its lesions.

    A missing prediction scores a predicted volume of 0 ml and 0 lesions and keeps the reference's.
    """
    profile = profile_get(name=name)
    return dataclasses.replace(profile, metrics=(*profile.metrics, *_VOLUME_COLUMNS))
