"""The metric definitions, pinned on tiny volumes whose answers are worked out by hand in each test."""

import doctest
import math

import numpy as np
import pytest

from evaluation.metrics import distance, lesion, overlap, volume
from evaluation.metrics.distance import hausdorff_distance_95_mm, surface_dice
from evaluation.metrics.lesion import absolute_lesion_count_difference, lesion_detection, lesion_f1
from evaluation.metrics.overlap import dice, voxel_precision, voxel_recall
from evaluation.metrics.volume import absolute_volume_difference_ml, lesion_volume_ml


def empty(shape: tuple[int, ...] = (4, 6, 6)) -> np.ndarray:
    return np.zeros(shape, dtype=bool)


def cube(mask: np.ndarray, corner: tuple[int, int, int], side: int) -> np.ndarray:
    z, y, x = corner
    mask[z : z + side, y : y + side, x : x + side] = True
    return mask


@pytest.mark.parametrize("module", [overlap, volume, lesion, distance])
def test_every_metric_docstring_example_gives_the_value_it_shows(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, raise_on_error=False)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0


def test_dice_of_half_overlapping_masks_is_two_intersections_over_both_sizes() -> None:
    ground_truth = cube(empty(), (0, 0, 0), 2)  # 8 voxels
    prediction = cube(empty(), (0, 0, 1), 2)  # 8 voxels, 4 shared
    assert dice(ground_truth, prediction) == pytest.approx(2 * 4 / 16)


@pytest.mark.parametrize(
    ("ground_truth_voxels", "prediction_voxels", "expected"),
    [
        pytest.param(0, 0, 1.0, id="both-empty-is-perfect"),
        pytest.param(0, 3, 0.0, id="empty-ground-truth-with-false-positives"),
        pytest.param(3, 0, 0.0, id="empty-prediction"),
    ],
)
def test_dice_edge_cases_follow_the_isles_rule(
    ground_truth_voxels: int, prediction_voxels: int, expected: float
) -> None:
    ground_truth, prediction = empty(), empty()
    ground_truth.flat[:ground_truth_voxels] = True
    prediction.flat[:prediction_voxels] = True
    assert dice(ground_truth, prediction) == expected


def test_dice_refuses_masks_of_different_shapes_naming_both() -> None:
    with pytest.raises(ValueError, match=r"prediction is 4x6x5 voxels but the ground truth is 4x6x6"):
        dice(empty(), empty((4, 6, 5)))


def test_metrics_refuse_masks_that_are_not_binarised() -> None:
    with pytest.raises(ValueError, match="binarise it with `> 0`"):
        dice(empty().astype(np.uint16), empty())


def test_voxel_precision_and_recall_count_shared_voxels_over_each_mask() -> None:
    ground_truth = cube(empty(), (0, 0, 0), 2)  # 8 voxels
    prediction = cube(empty(), (0, 0, 0), 1)  # 1 voxel, inside
    assert voxel_precision(ground_truth, prediction) == 1.0
    assert voxel_recall(ground_truth, prediction) == pytest.approx(1 / 8)


def test_volume_difference_uses_anisotropic_spacing_of_the_ground_truth() -> None:
    ground_truth = cube(empty(), (0, 0, 0), 2)  # 8 voxels
    prediction = cube(empty(), (0, 0, 0), 1)  # 1 voxel
    # 7 voxels of 0.4 x 0.4 x 2.0 mm = 0.32 mm3 each -> 2.24 mm3 -> 0.00224 ml
    assert absolute_volume_difference_ml(
        ground_truth, prediction, spacing_mm=(0.4, 0.4, 2.0)
    ) == pytest.approx(0.00224)
    assert lesion_volume_ml(ground_truth, spacing_mm=(0.4, 0.4, 2.0)) == pytest.approx(8 * 0.32 / 1000)


def test_volume_difference_refuses_spacing_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive value per axis"):
        absolute_volume_difference_ml(empty(), empty(), spacing_mm=(1.0, 0.0, 1.0))


def diagonal_pair() -> np.ndarray:
    """Two voxels that touch only at a corner: one lesion at 26-connectivity, two at 6 or 18."""
    mask = empty()
    mask[0, 0, 0] = True
    mask[1, 1, 1] = True
    return mask


@pytest.mark.parametrize(("connectivity", "lesions"), [(26, 1), (18, 2), (6, 2)])
def test_lesions_touching_only_at_a_corner_are_one_lesion_only_at_26_connectivity(
    connectivity: int, lesions: int
) -> None:
    detection = lesion_detection(diagonal_pair(), empty(), connectivity=connectivity)  # type: ignore[arg-type]
    assert detection.ground_truth_lesions == lesions
    assert absolute_lesion_count_difference(diagonal_pair(), empty(), connectivity=connectivity) == lesions  # type: ignore[arg-type]


def two_lesions_and_one_bridging_prediction() -> tuple[np.ndarray, np.ndarray]:
    """GT: two 3x3 blocks in one slice (x 0-2 and x 4-6); prediction: one 3x5 block over x 1-5.

    The predicted lesion (15 voxels) shares 6 voxels with each GT lesion (9 voxels): IoU 6 / 18 = 1/3 each.
    """
    ground_truth = np.zeros((1, 3, 7), dtype=bool)
    ground_truth[0, :, 0:3] = True
    ground_truth[0, :, 4:7] = True
    prediction = np.zeros((1, 3, 7), dtype=bool)
    prediction[0, :, 1:6] = True
    return ground_truth, prediction


def test_one_predicted_lesion_spanning_two_ground_truth_lesions_matches_only_one_under_isles24() -> None:
    ground_truth, prediction = two_lesions_and_one_bridging_prediction()
    detection = lesion_detection(ground_truth, prediction, matching="one_to_one_iou")
    assert (detection.true_positives, detection.false_positives, detection.false_negatives) == (1, 0, 1)
    assert lesion_f1(ground_truth, prediction, matching="one_to_one_iou") == pytest.approx(1 / (1 + 1 / 2))


def test_one_predicted_lesion_spanning_two_ground_truth_lesions_finds_both_under_isles22() -> None:
    ground_truth, prediction = two_lesions_and_one_bridging_prediction()
    detection = lesion_detection(ground_truth, prediction, matching="any_overlap")
    assert (detection.true_positives, detection.false_positives, detection.false_negatives) == (2, 0, 0)
    assert lesion_f1(ground_truth, prediction, matching="any_overlap") == 1.0


def lesion_pair_with_iou(intersection: int, union: int) -> tuple[np.ndarray, np.ndarray]:
    """A GT line of ``intersection`` voxels; a prediction line over it and ``union - intersection`` more."""
    ground_truth = np.zeros((1, 1, union), dtype=bool)
    ground_truth[0, 0, :intersection] = True
    prediction = np.ones((1, 1, union), dtype=bool)
    return ground_truth, prediction


@pytest.mark.parametrize(
    ("intersection", "union", "f1"),
    [
        pytest.param(1, 5, 1.0, id="iou-exactly-0.2-matches"),
        pytest.param(2, 10, 1.0, id="iou-2-of-10-matches"),
        pytest.param(199, 1000, 0.0, id="iou-0.199-does-not-match"),
    ],
)
def test_isles24_matches_lesions_at_iou_of_at_least_one_fifth(
    intersection: int, union: int, f1: float
) -> None:
    ground_truth, prediction = lesion_pair_with_iou(intersection, union)
    assert lesion_f1(ground_truth, prediction, matching="one_to_one_iou") == f1


def test_isles22_counts_any_touch_even_below_one_fifth_iou() -> None:
    ground_truth, prediction = lesion_pair_with_iou(199, 1000)
    assert lesion_f1(ground_truth, prediction, matching="any_overlap") == 1.0


def test_greedy_matching_gives_the_shared_prediction_to_the_lesion_it_overlaps_most() -> None:
    # G1 = x 0..3 (4 voxels), G2 = x 5 (1 voxel); P1 = x 0..5 (6 voxels) touches both; P2 = x 7.
    ground_truth = np.zeros((1, 1, 8), dtype=bool)
    ground_truth[0, 0, 0:4] = True
    ground_truth[0, 0, 5] = True
    prediction = np.zeros((1, 1, 8), dtype=bool)
    prediction[0, 0, 0:6] = True
    prediction[0, 0, 7] = True
    # IoU(G1, P1) = 4/6, IoU(G2, P1) = 1/6: P1 goes to G1; G2 is missed, P2 is a false positive.
    detection = lesion_detection(ground_truth, prediction)
    assert (detection.true_positives, detection.false_positives, detection.false_negatives) == (1, 1, 1)
    assert detection.f1() == pytest.approx(1 / (1 + 2 / 2))


@pytest.mark.parametrize("matching", ["one_to_one_iou", "any_overlap"])
def test_lesion_f1_is_one_when_both_masks_are_empty(matching: str) -> None:
    assert lesion_f1(empty(), empty(), matching=matching) == 1.0  # type: ignore[arg-type]


@pytest.mark.parametrize("matching", ["one_to_one_iou", "any_overlap"])
def test_lesion_f1_is_zero_for_false_positives_on_an_empty_ground_truth(matching: str) -> None:
    prediction = cube(empty(), (0, 0, 0), 1)
    cube(prediction, (2, 3, 3), 2)
    assert lesion_f1(empty(), prediction, matching=matching) == 0.0  # type: ignore[arg-type]
    assert absolute_lesion_count_difference(empty(), prediction) == 2


def test_hausdorff_95_measures_in_millimetres_along_the_anisotropic_axis() -> None:
    ground_truth = empty((6, 1, 1))
    ground_truth[0, 0, 0] = True
    prediction = empty((6, 1, 1))
    prediction[2, 0, 0] = True
    # Two slices apart along z, slices 2.0 mm thick: 4.0 mm, whatever the in-plane spacing.
    assert hausdorff_distance_95_mm(ground_truth, prediction, spacing_mm=(0.4, 0.4, 2.0)) == pytest.approx(
        4.0
    )


def test_hausdorff_95_empty_policies_are_zero_for_both_and_infinite_for_one() -> None:
    one_voxel = cube(empty(), (0, 0, 0), 1)
    assert hausdorff_distance_95_mm(empty(), empty(), spacing_mm=(1.0, 1.0, 1.0)) == 0.0
    assert math.isinf(hausdorff_distance_95_mm(one_voxel, empty(), spacing_mm=(1.0, 1.0, 1.0)))


def test_surface_dice_counts_surface_voxels_within_the_tolerance() -> None:
    ground_truth = empty((1, 1, 10))
    ground_truth[0, 0, 0] = True
    prediction = empty((1, 1, 10))
    prediction[0, 0, 3] = True
    # One surface voxel each, 3 mm apart at 1 mm spacing.
    assert surface_dice(ground_truth, prediction, spacing_mm=(1.0, 1.0, 1.0), tolerance_mm=2.0) == 0.0
    assert surface_dice(ground_truth, prediction, spacing_mm=(1.0, 1.0, 1.0), tolerance_mm=3.0) == 1.0
    assert surface_dice(empty(), empty(), spacing_mm=(1.0, 1.0, 1.0), tolerance_mm=1.0) == 1.0


def test_lesion_counts_and_f1_agree_with_labelling_the_whole_volume_on_scattered_lesions() -> None:
    rng = np.random.default_rng(7)
    ground_truth = rng.random((12, 40, 40)) > 0.97
    prediction = ground_truth.copy()
    prediction[:, :, ::5] = False  # split some lesions; many specks stay matched, some are lost
    prediction |= rng.random((12, 40, 40)) > 0.99
    whole = lesion.label_lesions(ground_truth)
    detection = lesion_detection(ground_truth, prediction)
    assert detection.ground_truth_lesions == whole.count
    assert detection.predicted_lesions == lesion.label_lesions(prediction).count
    assert (
        lesion.lesion_count(ground_truth, connectivity=6)
        == lesion.label_lesions(ground_truth, connectivity=6).count
    )
    assert 0 < detection.true_positives < whole.count
