"""Lesion-wise metrics: lesions are connected components; count difference and detection F1.

Two published rules decide which lesions were found, and on a real mask dilated by two voxels they give
F1 1.0 and 0.21: ISLES'24 matches ground-truth and predicted lesions one to one, greedily by decreasing
IoU, when IoU >= 0.2 (panoptica 1.x ``NaiveThresholdMatching``); ISLES'22 counts a ground-truth lesion as
found when any predicted voxel touches it. Overlaps are counted only over voxels in both masks, so the cost
grows with the lesions, not with the product of their numbers.
"""

import functools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from evaluation.metrics import BoolArray, check_mask_pair

__all__ = [
    "LabelledLesions",
    "LesionDetection",
    "LesionMatching",
    "absolute_lesion_count_difference",
    "label_lesions",
    "lesion_count",
    "lesion_detection",
    "lesion_f1",
]

Connectivity = Literal[6, 18, 26]
LesionMatching = Literal["one_to_one_iou", "any_overlap"]

_CONNECTIVITY_RANK = {6: 1, 18: 2, 26: 3}
# Cutting stops here, so scattered noise (thousands of one-voxel specks) cannot make thousands of boxes.
_MAX_BOXES = 256


@dataclass(frozen=True)
class LabelledLesions:
    """A mask's connected components: ``labels`` holds 0 for background and 1..``count`` for lesions."""

    labels: npt.NDArray[np.signedinteger[Any]]
    count: int


@dataclass(frozen=True)
class LesionDetection:
    """How many lesions were found (TP), invented (FP) and missed (FN), and the lesion counts."""

    true_positives: int
    false_positives: int
    false_negatives: int
    ground_truth_lesions: int
    predicted_lesions: int

    def f1(self, *, empty_value: float = 1.0) -> float:
        """``TP / (TP + (FP + FN) / 2)``; no lesion in either mask gives ``empty_value``."""
        if self.ground_truth_lesions == 0 and self.predicted_lesions == 0:
            return float(empty_value)
        return self.true_positives / (self.true_positives + (self.false_positives + self.false_negatives) / 2)


def label_lesions(mask: BoolArray, *, connectivity: Connectivity = 26) -> LabelledLesions:
    """Label the connected components of a 3D mask; 26-connectivity joins voxels touching at a corner.

    >>> label_lesions(np.eye(3, dtype=bool)[None], connectivity=26).count  # a diagonal line is one lesion
    1
    """
    if connectivity not in _CONNECTIVITY_RANK:
        raise ValueError(f"Connectivity must be 6, 18 or 26, not {connectivity}.")
    labels, count = ndimage.label(mask, structure=_structure(mask.ndim, connectivity))
    return LabelledLesions(labels=labels, count=int(count))


@functools.cache
def _structure(ndim: int, connectivity: Connectivity) -> npt.NDArray[np.bool_]:
    """The neighbourhood of a voxel; built once, as a case labels dozens of small boxes."""
    structure: npt.NDArray[np.bool_] = ndimage.generate_binary_structure(
        ndim, _CONNECTIVITY_RANK[connectivity]
    )
    structure.flags.writeable = False
    return structure


def lesion_count(mask: BoolArray, *, connectivity: Connectivity = 26) -> int:
    """The number of lesions (connected components) of a mask.

    >>> lesion_count(np.eye(3, dtype=bool)[None], connectivity=6)  # three voxels touching at corners
    3
    """
    return sum(label_lesions(mask[box], connectivity=connectivity).count for box in _separated_boxes(mask))


def absolute_lesion_count_difference(
    ground_truth: BoolArray, prediction: BoolArray, *, connectivity: Connectivity = 26
) -> int:
    """``|n(G) - n(P)|``, the difference in connected-component counts, in [0, inf), lower is better.

    Both empty gives 0; an empty prediction gives the number of ground-truth lesions. Shapes that differ
    raise ``ValueError``. Reference: ISLES'24 evaluation (absolute lesion count difference).

    >>> absolute_lesion_count_difference(np.eye(3, dtype=bool)[None], np.zeros((1, 3, 3), bool))
    1
    """
    check_mask_pair(ground_truth, prediction)
    return abs(
        lesion_count(ground_truth, connectivity=connectivity)
        - lesion_count(prediction, connectivity=connectivity)
    )


def lesion_detection(
    ground_truth: BoolArray,
    prediction: BoolArray,
    *,
    matching: LesionMatching = "one_to_one_iou",
    iou_threshold: float = 0.2,
    connectivity: Connectivity = 26,
) -> LesionDetection:
    """Label both masks and decide which lesions were found under the ``matching`` rule.

    ``one_to_one_iou`` (ISLES'24): overlapping pairs are taken in order of decreasing IoU and matched when
    neither lesion is matched yet and IoU >= ``iou_threshold``; ties keep the order of the ground-truth,
    then the predicted label. ``any_overlap`` (ISLES'22): a ground-truth lesion touched by any predicted
    voxel is found; a predicted lesion touching no ground-truth voxel is a false positive.
    """
    check_mask_pair(ground_truth, prediction)
    if matching not in ("one_to_one_iou", "any_overlap"):
        raise ValueError(f"Lesion matching must be 'one_to_one_iou' or 'any_overlap', not {matching!r}.")
    totals = np.zeros(5, dtype=np.int64)
    for box in _separated_boxes(ground_truth | prediction):
        totals += _box_detection(
            ground_truth[box],
            prediction[box],
            matching=matching,
            iou_threshold=iou_threshold,
            connectivity=connectivity,
        )
    found, false_positives, false_negatives, reference_count, predicted_count = (int(v) for v in totals)
    return LesionDetection(
        true_positives=found,
        false_positives=false_positives,
        false_negatives=false_negatives,
        ground_truth_lesions=reference_count,
        predicted_lesions=predicted_count,
    )


def lesion_f1(
    ground_truth: BoolArray,
    prediction: BoolArray,
    *,
    matching: LesionMatching = "one_to_one_iou",
    iou_threshold: float = 0.2,
    connectivity: Connectivity = 26,
    empty_value: float = 1.0,
) -> float:
    """Lesion-wise F1 score: ``TP / (TP + (FP + FN) / 2)``, in [0, 1], higher is better, unitless.

    Lesions are connected components (``connectivity`` 26 by default, as both challenges use); which
    lesions count as found is ``matching`` (see ``lesion_detection``): ``one_to_one_iou`` with IoU >= 0.2
    for ISLES'24, ``any_overlap`` for ISLES'22. No lesion in either mask gives ``empty_value`` (1.0);
    lesions in only one mask give 0.0. Shapes that differ raise ``ValueError``.
    Reference: ISLES'24 evaluation (panoptica 1.x ``rq`` with ``NaiveThresholdMatching``); ISLES'22
    evaluation, ``compute_lesion_f1_score``.

    >>> ground_truth = np.zeros((1, 3, 7), bool); ground_truth[0, :, :3] = True; ground_truth[0, :, 4:] = True
    >>> prediction = np.zeros((1, 3, 7), bool); prediction[0, :, 1:6] = True  # one lesion over both
    >>> lesion_f1(ground_truth, prediction)  # IoU 6/18 with each: TP 1, FN 1 -> 1 / (1 + 1/2)
    0.666...
    >>> lesion_f1(ground_truth, prediction, matching="any_overlap")  # both touched: TP 2
    1.0
    """
    detection = lesion_detection(
        ground_truth, prediction, matching=matching, iou_threshold=iou_threshold, connectivity=connectivity
    )
    return detection.f1(empty_value=empty_value)


def _box_detection(
    ground_truth: BoolArray,
    prediction: BoolArray,
    *,
    matching: LesionMatching,
    iou_threshold: float,
    connectivity: Connectivity,
) -> tuple[int, int, int, int, int]:
    """TP, FP, FN and both lesion counts inside one box that no lesion crosses."""
    has_reference, has_prediction = bool(ground_truth.any()), bool(prediction.any())
    if not (has_reference and has_prediction):  # most boxes hold lesions of one mask only: nothing matches
        reference_count = label_lesions(ground_truth, connectivity=connectivity).count if has_reference else 0
        predicted_count = label_lesions(prediction, connectivity=connectivity).count if has_prediction else 0
        return 0, predicted_count, reference_count, reference_count, predicted_count
    reference = label_lesions(ground_truth, connectivity=connectivity)
    predicted = label_lesions(prediction, connectivity=connectivity)
    pairs, intersections = _overlapping_pairs(reference, predicted, overlap=ground_truth & prediction)
    if matching == "any_overlap":
        found = int(np.unique(pairs[:, 0]).size)
        false_positives = predicted.count - int(np.unique(pairs[:, 1]).size)
    else:
        found = _greedy_matches(reference, predicted, pairs, intersections, iou_threshold=iou_threshold)
        false_positives = predicted.count - found
    return found, false_positives, reference.count - found, reference.count, predicted.count


def _separated_boxes(occupied: BoolArray) -> list[tuple[slice, ...]]:
    """Boxes holding every occupied voxel, cut wherever a whole plane across a box is empty.

    No connected component, at any connectivity, crosses an empty plane, so lesions can be labelled box by
    box. Lesions are sparse in a 512x512x80 volume: labelling the boxes costs a fraction of labelling it all.
    """
    boxes: list[tuple[slice, ...]] = []
    pending = [tuple(slice(0, n) for n in occupied.shape)]
    while pending:
        box = pending.pop()
        pieces = _cut_at_empty_planes(occupied, box)
        if pieces is None:
            continue
        if pieces == [box] or len(boxes) + len(pending) >= _MAX_BOXES:
            boxes.extend(pieces)
        else:
            pending.extend(pieces)
    return boxes


def _cut_at_empty_planes(occupied: BoolArray, box: tuple[slice, ...]) -> list[tuple[slice, ...]] | None:
    """The box tightened to its occupied voxels and cut along the first axis with an empty plane inside;
    None if the box is empty."""
    region = occupied[box]
    for axis in range(region.ndim):
        others = tuple(other for other in range(region.ndim) if other != axis)
        present = region.any(axis=others)
        edges = np.flatnonzero(np.diff(np.concatenate([[False], present, [False]]).astype(np.int8)))
        if edges.size == 0:
            return None
        runs = edges.reshape(-1, 2)
        if runs.shape[0] > 1 or runs[0, 0] > 0 or runs[0, 1] < present.size:
            start = box[axis].start
            return [
                (*box[:axis], slice(start + int(first), start + int(last)), *box[axis + 1 :])
                for first, last in runs
            ]
    return [box]


def _overlapping_pairs(
    reference: LabelledLesions, predicted: LabelledLesions, *, overlap: BoolArray
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every (ground-truth label, predicted label) pair sharing voxels, and how many voxels it shares."""
    combined = reference.labels[overlap].astype(np.int64) * (predicted.count + 1) + predicted.labels[overlap]
    keys, intersections = np.unique(combined, return_counts=True)
    pairs = np.stack([keys // (predicted.count + 1), keys % (predicted.count + 1)], axis=1)
    return pairs, intersections


def _greedy_matches(
    reference: LabelledLesions,
    predicted: LabelledLesions,
    pairs: npt.NDArray[np.int64],
    intersections: npt.NDArray[np.int64],
    *,
    iou_threshold: float,
) -> int:
    """Count one-to-one matches taken greedily by decreasing IoU while IoU >= ``iou_threshold``."""
    if pairs.size == 0:
        return 0
    reference_sizes = np.bincount(reference.labels.ravel(), minlength=reference.count + 1)
    predicted_sizes = np.bincount(predicted.labels.ravel(), minlength=predicted.count + 1)
    unions = reference_sizes[pairs[:, 0]] + predicted_sizes[pairs[:, 1]] - intersections
    ious = intersections / unions
    matched_reference: set[int] = set()
    matched_prediction: set[int] = set()
    for index in np.argsort(-ious, kind="stable"):
        if ious[index] < iou_threshold:
            break
        reference_label, predicted_label = int(pairs[index, 0]), int(pairs[index, 1])
        if reference_label in matched_reference or predicted_label in matched_prediction:
            continue
        matched_reference.add(reference_label)
        matched_prediction.add(predicted_label)
    return len(matched_reference)
