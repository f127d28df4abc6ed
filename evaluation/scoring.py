"""Scoring cases with a metric profile: one pair of files, or two folders of them, in parallel.

This is what the portal and the command line call. A case whose prediction is missing, unreadable or of
another shape than its ground truth gets the profile's worst values and a message; one with the right shape
but another spacing or origin (containers often write none) is scored on the ground truth's grid, and its
``notes`` say so in a sentence naming both. Metrics are computed inside the bounding box of the two
masks, which changes none of them and saves labelling and counting the empty rest of a 512x512x80 volume.
"""

import math
import os
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import numpy as np

from evaluation.io import MASK_SUFFIXES, Mask, image_header_read, read_mask, size_text, spacing_text
from evaluation.metrics import BoolArray
from evaluation.metrics.distance import hausdorff_distance_95_mm, surface_dice
from evaluation.metrics.lesion import LesionDetection, label_lesions, lesion_detection
from evaluation.metrics.overlap import dice, voxel_precision, voxel_recall
from evaluation.metrics.volume import absolute_volume_difference_ml, lesion_volume_ml
from evaluation.profiles import Profile, WorstValue

__all__ = [
    "Aggregate",
    "CaseScore",
    "CaseStatus",
    "FolderScore",
    "case_files",
    "case_id_from_path",
    "score_case",
    "score_folders",
    "score_masks",
    "union_bounding_box",
]

_SPACING_TOLERANCE_MM = 1e-4
_SURFACE_DICE_KEY = re.compile(r"surface_dice_(\d+(?:\.\d+)?)mm")
_ORIGIN_TOLERANCE_MM = 1e-3


class CaseStatus(StrEnum):
    SCORED = "SCORED"
    MISSING = "MISSING"
    ERROR = "ERROR"


@dataclass(frozen=True)
class CaseScore:
    """The profile's metric values for one case, why they are worst values if they are, and ``notes``:
    sentences for the participant about how a scored mask was read (another spacing or origin than the
    case's, scored on the case's grid), empty when there is nothing to say."""

    case_id: str
    metrics: Mapping[str, float]
    status: CaseStatus
    message: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Aggregate:
    """Summary of one metric over the cases where it is finite (``count`` of them); ``std`` is the population
    standard deviation (ddof 0). An HD95 is infinite when one mask is empty: read ``count`` beside it."""

    mean: float
    std: float
    median: float
    minimum: float
    maximum: float
    count: int


@dataclass(frozen=True)
class FolderScore:
    """Every case of a folder scored with one profile, in case id order, and the summary per metric."""

    profile: str
    cases: tuple[CaseScore, ...]
    aggregates: Mapping[str, Aggregate]
    unmatched_predictions: tuple[str, ...] = field(default=())

    @property
    def missing(self) -> list[str]:
        return [case.case_id for case in self.cases if case.status == CaseStatus.MISSING]

    @property
    def errors(self) -> dict[str, str]:
        return {case.case_id: case.message or "" for case in self.cases if case.status == CaseStatus.ERROR}

    @property
    def warnings(self) -> dict[str, str]:
        found = {case.case_id: " ".join(case.notes) for case in self.cases if case.notes}
        for case_id in self.unmatched_predictions:
            found[case_id] = "There is no ground truth for this prediction, so it was not scored."
        return found

    def as_json(self) -> dict[str, object]:
        """The command line's output document; infinite values (an HD95 with one mask empty) are null."""
        return {
            "profile": self.profile,
            "cases": {
                case.case_id: {key: _json_number(value) for key, value in case.metrics.items()}
                for case in self.cases
            },
            "aggregates": {
                key: {
                    "mean": _json_number(value.mean),
                    "std": _json_number(value.std),
                    "median": _json_number(value.median),
                    "min": _json_number(value.minimum),
                    "max": _json_number(value.maximum),
                    "count": value.count,
                }
                for key, value in self.aggregates.items()
            },
            "missing": self.missing,
            "errors": self.errors,
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class _CroppedPair:
    """A case's two masks cut to the bounding box of their union, and the ground truth's spacing."""

    ground_truth: BoolArray
    prediction: BoolArray
    spacing_mm: tuple[float, float, float]
    profile: Profile

    @cached_property
    def detection(self) -> LesionDetection:
        return lesion_detection(
            self.ground_truth,
            self.prediction,
            matching=self.profile.lesion_matching,
            iou_threshold=self.profile.iou_threshold,
            connectivity=self.profile.connectivity,
        )


_METRICS: Mapping[str, Callable[[_CroppedPair], float]] = {
    "dice": lambda pair: dice(pair.ground_truth, pair.prediction),
    "absolute_volume_difference_ml": lambda pair: absolute_volume_difference_ml(
        pair.ground_truth, pair.prediction, spacing_mm=pair.spacing_mm
    ),
    "absolute_lesion_count_difference": lambda pair: abs(
        pair.detection.ground_truth_lesions - pair.detection.predicted_lesions
    ),
    "lesion_f1": lambda pair: pair.detection.f1(),
    "voxel_precision": lambda pair: voxel_precision(pair.ground_truth, pair.prediction),
    "voxel_recall": lambda pair: voxel_recall(pair.ground_truth, pair.prediction),
    "hausdorff_distance_95_mm": lambda pair: hausdorff_distance_95_mm(
        pair.ground_truth, pair.prediction, spacing_mm=pair.spacing_mm
    ),
    "predicted_volume_ml": lambda pair: lesion_volume_ml(pair.prediction, spacing_mm=pair.spacing_mm),
    "reference_volume_ml": lambda pair: lesion_volume_ml(pair.ground_truth, spacing_mm=pair.spacing_mm),
    "predicted_lesion_count": lambda pair: pair.detection.predicted_lesions,
    "reference_lesion_count": lambda pair: pair.detection.ground_truth_lesions,
}


def case_id_from_path(path: Path) -> str:
    """The case a file belongs to: its name up to the first ``_``, or its name without the suffix."""
    name = path.name
    for suffix in MASK_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.split("_", 1)[0]


def case_files(*, directory: Path, role: str) -> dict[str, Path]:
    """The mask files of a folder by case id; ``ValueError`` if the folder is missing or names a case twice.

    ``role`` names the folder in messages ("ground truth", "predictions"). Other files are ignored.
    """
    if not directory.is_dir():
        raise ValueError(f"The {role} folder {directory} does not exist.")
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.name.lower().endswith(MASK_SUFFIXES) or not path.is_file():
            continue
        case_id = case_id_from_path(path)
        if case_id in found:
            raise ValueError(
                f"The {role} folder has two files for case {case_id}: {found[case_id].name} and {path.name}."
            )
        found[case_id] = path
    return found


def score_masks(*, profile: Profile, ground_truth: Mask, prediction: Mask) -> dict[str, float]:
    """The profile's metrics of a pair of masks of one shape, on the ground truth's spacing.

    Raises ``ValueError`` naming both sizes when the shapes differ.
    """
    if ground_truth.array.shape != prediction.array.shape:
        raise ValueError(_shape_mismatch(prediction.array.shape[::-1], ground_truth))
    box = union_bounding_box(ground_truth.array, prediction.array)
    pair = _CroppedPair(
        ground_truth=ground_truth.array[box],
        prediction=prediction.array[box],
        spacing_mm=ground_truth.spacing_mm,
        profile=profile,
    )
    return {key: _metric(key)(pair) for key in profile.metric_keys}


def score_case(
    *, profile: Profile, case_id: str, ground_truth_path: Path, prediction_path: Path | None
) -> CaseScore:
    """Read and score one case; a missing or unusable prediction gets the profile's worst values.

    A ground truth that cannot be read raises ``ValueError``: that is the organiser's problem, not a score.
    """
    return _score_read_case(profile, case_id, _read_case(ground_truth_path, prediction_path))


def score_folders(
    *,
    profile: Profile,
    ground_truth_dir: Path,
    predictions_dir: Path,
    workers: int | None = None,
    on_case: Callable[[int, int, CaseScore], None] | None = None,
) -> FolderScore:
    """Score every ground-truth case of a folder against the prediction of the same case id.

    ``workers`` processes (default: one per CPU) each read and score one case at a time, so memory stays
    at a few volumes per worker whatever the number of cases. ``on_case(done, total, score)`` is called as
    each case finishes. Raises ``ValueError`` for a missing or empty folder or a case named twice.
    """
    ground_truths = case_files(directory=ground_truth_dir, role="ground truth")
    predictions = case_files(directory=predictions_dir, role="predictions")
    if not ground_truths:
        raise ValueError(f"The ground truth folder {ground_truth_dir} holds no .nii.gz, .nii or .mha file.")
    for key in profile.metric_keys:
        _metric(key)
    jobs = [(profile, case_id, path, predictions.get(case_id)) for case_id, path in ground_truths.items()]
    scores = list(_run_jobs(jobs, workers=workers or os.cpu_count() or 1, on_case=on_case))
    scores.sort(key=lambda score: score.case_id)
    return FolderScore(
        profile=profile.name,
        cases=tuple(scores),
        aggregates=_aggregates(profile, scores),
        unmatched_predictions=tuple(sorted(set(predictions) - set(ground_truths))),
    )


_Job = tuple[Profile, str, Path, Path | None]


@dataclass(frozen=True)
class _ReadCase:
    """A case's masks as read; ``prediction`` is None when its file is missing or, with a message in
    ``prediction_error``, unreadable."""

    ground_truth: Mask
    prediction: Mask | None
    prediction_error: str | None = None


def _read_case(ground_truth_path: Path, prediction_path: Path | None) -> _ReadCase:
    """Read a case's masks; a prediction is compared with the ground truth's size from its header, before
    a voxel of it is read, so a header declaring a huge grid costs nothing."""
    ground_truth = read_mask(ground_truth_path)
    if prediction_path is None:
        return _ReadCase(ground_truth, None)
    try:
        header = image_header_read(prediction_path, max_voxels=None)
        if header.size != ground_truth.array.shape[::-1]:
            return _ReadCase(ground_truth, None, prediction_error=_shape_mismatch(header.size, ground_truth))
        return _ReadCase(ground_truth, read_mask(prediction_path, max_voxels=header.voxels))
    except ValueError as error:
        return _ReadCase(ground_truth, None, prediction_error=str(error))


def _shape_mismatch(prediction_size: tuple[int, ...], ground_truth: Mask) -> str:
    return (
        f"The prediction is {size_text(prediction_size)} voxels but the ground truth is "
        f"{ground_truth.shape_text}."
    )


def _score_read_case(profile: Profile, case_id: str, case: _ReadCase) -> CaseScore:
    ground_truth, prediction = case.ground_truth, case.prediction
    if prediction is None:
        if case.prediction_error is None:
            return CaseScore(case_id, _worst_values(profile, ground_truth), CaseStatus.MISSING)
        return CaseScore(
            case_id, _worst_values(profile, ground_truth), CaseStatus.ERROR, message=case.prediction_error
        )
    try:
        metrics = score_masks(profile=profile, ground_truth=ground_truth, prediction=prediction)
    except ValueError as error:
        return CaseScore(case_id, _worst_values(profile, ground_truth), CaseStatus.ERROR, message=str(error))
    return CaseScore(case_id, metrics, CaseStatus.SCORED, notes=_geometry_notes(ground_truth, prediction))


def _score_job(job: _Job) -> CaseScore:
    profile, case_id, ground_truth_path, prediction_path = job
    return _score_read_case(profile, case_id, _read_case(ground_truth_path, prediction_path))


def _score_jobs_in_turn(jobs: list[_Job], *, finished: Callable[[CaseScore], None]) -> None:
    """Score the jobs one after another in this process while a thread reads the next case's files.

    Decompression and NumPy release the GIL, so reading case n + 1 overlaps with scoring case n; at most two
    cases' masks are held at once.
    """
    with ThreadPoolExecutor(max_workers=1) as reader:
        upcoming = reader.submit(_read_case, jobs[0][2], jobs[0][3])
        for index, (profile, case_id, _, _) in enumerate(jobs):
            case = upcoming.result()
            if index + 1 < len(jobs):
                upcoming = reader.submit(_read_case, jobs[index + 1][2], jobs[index + 1][3])
            finished(_score_read_case(profile, case_id, case))


def _run_jobs(
    jobs: list[_Job], *, workers: int, on_case: Callable[[int, int, CaseScore], None] | None
) -> list[CaseScore]:
    scores: list[CaseScore] = []

    def finished(score: CaseScore) -> None:
        scores.append(score)
        if on_case is not None:
            on_case(len(scores), len(jobs), score)

    if workers == 1 or len(jobs) == 1:
        _score_jobs_in_turn(jobs, finished=finished)
        return scores
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        for future in as_completed([pool.submit(_score_job, job) for job in jobs]):
            finished(future.result())
    return scores


def _metric(key: str) -> Callable[[_CroppedPair], float]:
    """The function computing a column; ``surface_dice_<t>mm`` is surface Dice at a tolerance of t mm."""
    if key in _METRICS:
        return _METRICS[key]
    surface = _SURFACE_DICE_KEY.fullmatch(key)
    if surface is None:
        known = ", ".join([*_METRICS, "surface_dice_<tolerance>mm"])
        raise ValueError(f"The metric {key!r} is not one evaluation.scoring can compute ({known}).")
    tolerance_mm = float(surface.group(1))
    return lambda pair: surface_dice(
        pair.ground_truth, pair.prediction, spacing_mm=pair.spacing_mm, tolerance_mm=tolerance_mm
    )


def union_bounding_box(ground_truth: BoolArray, prediction: BoolArray) -> tuple[slice, ...]:
    """The smallest box holding every voxel of either mask; an empty slice on each axis if both are empty.

    The occupied planes along the first axis come from one pass over each mask read eight voxels at a time;
    the other axes from the footprint of those planes only, so no full-volume reduction runs per axis.
    """
    planes = _span(_occupied_planes(ground_truth) | _occupied_planes(prediction))
    if planes is None:
        return tuple(slice(0, 0) for _ in ground_truth.shape)
    footprint: BoolArray = np.asarray(ground_truth[planes].any(axis=0) | prediction[planes].any(axis=0))
    rest = []
    for axis in range(footprint.ndim):
        others = tuple(other for other in range(footprint.ndim) if other != axis)
        span = _span(np.asarray(np.any(footprint, axis=others)))
        rest.append(span if span is not None else slice(0, 0))
    return (planes, *rest)


def _occupied_planes(mask: BoolArray) -> BoolArray:
    """Whether each plane across the first axis holds a voxel."""
    planes = mask.reshape(mask.shape[0], -1)
    if planes.flags.c_contiguous and planes.shape[1] % 8 == 0:
        planes = planes.view(np.uint64)  # a nonzero word is a plane with a voxel among its eight bytes
    occupied: BoolArray = np.asarray(planes.any(axis=1))
    return occupied


def _span(present: BoolArray) -> slice | None:
    indices = np.flatnonzero(present)
    return slice(int(indices[0]), int(indices[-1]) + 1) if indices.size else None


def _worst_values(profile: Profile, ground_truth: Mask) -> dict[str, float]:
    worst: dict[str, float] = {}
    for column in profile.metrics:
        if column.worst == WorstValue.GROUND_TRUTH_VOLUME:
            worst[column.key] = int(np.count_nonzero(ground_truth.array)) * ground_truth.voxel_volume_ml
        elif column.worst == WorstValue.INFINITY:
            worst[column.key] = math.inf
        elif column.worst == WorstValue.GROUND_TRUTH_LESION_COUNT:
            box = union_bounding_box(ground_truth.array, ground_truth.array)
            lesions = label_lesions(ground_truth.array[box], connectivity=profile.connectivity)
            worst[column.key] = lesions.count
        else:
            worst[column.key] = 0.0
    return worst


def _geometry_notes(ground_truth: Mask, prediction: Mask) -> tuple[str, ...]:
    """A sentence naming the mask's spacing or origin and the case's where they differ; none otherwise."""
    same_spacing = np.allclose(
        prediction.spacing_mm, ground_truth.spacing_mm, rtol=0, atol=_SPACING_TOLERANCE_MM
    )
    same_origin = np.allclose(prediction.origin_mm, ground_truth.origin_mm, rtol=0, atol=_ORIGIN_TOLERANCE_MM)
    if same_spacing and same_origin:
        return ()
    mask_spacing, case_spacing = spacing_text(prediction.spacing_mm), spacing_text(ground_truth.spacing_mm)
    mask_origin, case_origin = _origin_text(prediction.origin_mm), _origin_text(ground_truth.origin_mm)
    if same_origin:
        differs = f"The mask's spacing is {mask_spacing} mm but the case's is {case_spacing} mm"
    elif same_spacing:
        differs = f"The mask's origin is {mask_origin} but the case's is {case_origin}"
    else:
        differs = (
            f"The mask's spacing is {mask_spacing} mm and its origin {mask_origin}, but the case's are "
            f"{case_spacing} mm and {case_origin}"
        )
    return (f"{differs}; it was scored on the case's grid.",)


def _origin_text(origin_mm: tuple[float, float, float]) -> str:
    return "(" + ", ".join(f"{value:.4g}" for value in origin_mm) + ") mm"


def _aggregates(profile: Profile, scores: list[CaseScore]) -> dict[str, Aggregate]:
    summary = {}
    for key in profile.metric_keys:
        values = np.array([score.metrics[key] for score in scores], dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            summary[key] = Aggregate(math.nan, math.nan, math.nan, math.nan, math.nan, 0)
            continue
        summary[key] = Aggregate(
            mean=float(finite.mean()),
            std=float(finite.std()),
            median=float(np.median(finite)),
            minimum=float(finite.min()),
            maximum=float(finite.max()),
            count=int(finite.size),
        )
    return summary


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None
