"""Scoring cases and folders with the ISLES profiles: geometry rules, worst values, aggregates."""

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from evaluation.metrics.lesion import lesion_count
from evaluation.profiles import (
    PROFILES,
    Direction,
    MetricColumn,
    Profile,
    WorstValue,
    profile_get,
    profile_with_volumes,
)
from evaluation.scoring import CaseStatus, case_files, case_id_from_path, score_case, score_folders
from tests.evaluation.masks import ANISOTROPIC_MM, ORIGIN_MM, two_lesions, write_mask
from tests.hostile_masks import nifti_bytes

ISLES24 = PROFILES["isles24"]
VOXEL_ML = 0.4 * 0.4 * 2.0 / 1000


@pytest.fixture
def ground_truth_path(tmp_path: Path) -> Path:
    return write_mask(
        tmp_path / "gt" / "sub-stroke0001_ses-02_lesion-msk.nii.gz", two_lesions().astype(np.uint16)
    )


def test_both_isles_profiles_report_the_four_challenge_metrics_in_order() -> None:
    for name in ("isles24", "isles22"):
        profile = profile_get(name=name)
        assert profile.metric_keys == (
            "dice",
            "absolute_volume_difference_ml",
            "absolute_lesion_count_difference",
            "lesion_f1",
        )
        assert [column.direction for column in profile.metrics] == [
            Direction.HIGHER_IS_BETTER,
            Direction.LOWER_IS_BETTER,
            Direction.LOWER_IS_BETTER,
            Direction.HIGHER_IS_BETTER,
        ]
    assert PROFILES["isles24"].lesion_matching == "one_to_one_iou"
    assert PROFILES["isles22"].lesion_matching == "any_overlap"


def test_profile_get_names_the_known_profiles_for_an_unknown_one() -> None:
    with pytest.raises(ValueError, match="the profiles are isles22, isles24"):
        profile_get(name="brats")


def test_a_perfect_prediction_scores_best_values(tmp_path: Path, ground_truth_path: Path) -> None:
    prediction_path = write_mask(tmp_path / "pred" / "sub-stroke0001.mha", two_lesions().astype(np.uint8))
    score = score_case(
        profile=ISLES24,
        case_id="sub-stroke0001",
        ground_truth_path=ground_truth_path,
        prediction_path=prediction_path,
    )
    assert score.status == CaseStatus.SCORED
    assert score.notes == ()
    assert score.metrics == {
        "dice": 1.0,
        "absolute_volume_difference_ml": 0.0,
        "absolute_lesion_count_difference": 0,
        "lesion_f1": 1.0,
    }


def test_a_prediction_without_spacing_is_scored_on_the_ground_truth_grid_with_a_note(
    tmp_path: Path, ground_truth_path: Path
) -> None:
    prediction = two_lesions()
    prediction[4, 6:8, 8:10] = False  # drop the 4-voxel lesion
    prediction_path = write_mask(
        tmp_path / "pred" / "sub-stroke0001.mha", prediction.astype(np.uint8), spacing_mm=None, origin_mm=None
    )
    score = score_case(
        profile=ISLES24,
        case_id="sub-stroke0001",
        ground_truth_path=ground_truth_path,
        prediction_path=prediction_path,
    )
    assert score.status == CaseStatus.SCORED
    assert score.notes == (
        "The mask's spacing is 1 x 1 x 1 mm and its origin (0, 0, 0) mm, but the case's are 0.4 x 0.4 x 2 mm "
        "and (-12, -8, 30) mm; it was scored on the case's grid.",
    )
    # 4 voxels missing at the ground truth's 0.32 mm3, not the prediction's 1 mm3.
    assert score.metrics["absolute_volume_difference_ml"] == pytest.approx(4 * VOXEL_ML)
    assert score.metrics["dice"] == pytest.approx(2 * 18 / (22 + 18))
    assert score.metrics["absolute_lesion_count_difference"] == 1
    assert score.metrics["lesion_f1"] == pytest.approx(1 / (1 + 1 / 2))


@pytest.mark.parametrize(
    ("spacing_mm", "origin_mm", "note"),
    [
        (
            (1.0, 1.0, 1.0),
            ORIGIN_MM,
            "The mask's spacing is 1 x 1 x 1 mm but the case's is 0.4 x 0.4 x 2 mm; it was scored on the "
            "case's grid.",
        ),
        (
            ANISOTROPIC_MM,
            (0.0, 0.0, 0.0),
            "The mask's origin is (0, 0, 0) mm but the case's is (-12, -8, 30) mm; it was scored on the "
            "case's grid.",
        ),
    ],
)
def test_a_mask_with_another_spacing_or_origin_is_scored_as_on_the_case_grid_with_a_note_naming_both(
    tmp_path: Path,
    ground_truth_path: Path,
    spacing_mm: tuple[float, float, float],
    origin_mm: tuple[float, float, float],
    note: str,
) -> None:
    prediction_path = write_mask(
        tmp_path / "pred" / "sub-stroke0001.nii.gz",
        two_lesions().astype(np.uint8),
        spacing_mm=spacing_mm,
        origin_mm=origin_mm,
    )

    score = score_case(
        profile=ISLES24,
        case_id="sub-stroke0001",
        ground_truth_path=ground_truth_path,
        prediction_path=prediction_path,
    )

    assert score.status == CaseStatus.SCORED
    assert score.metrics["dice"] == 1.0
    assert score.metrics["absolute_volume_difference_ml"] == 0.0
    assert score.notes == (note,)


def test_a_prediction_of_another_shape_is_an_error_with_worst_values_naming_both_shapes(
    tmp_path: Path, ground_truth_path: Path
) -> None:
    prediction_path = write_mask(tmp_path / "pred" / "sub-stroke0001.nii.gz", np.ones((6, 10, 11), np.uint8))
    score = score_case(
        profile=ISLES24,
        case_id="sub-stroke0001",
        ground_truth_path=ground_truth_path,
        prediction_path=prediction_path,
    )
    assert score.status == CaseStatus.ERROR
    assert score.message == "The prediction is 11x10x6 voxels but the ground truth is 12x10x6."
    assert score.metrics == {
        "dice": 0.0,
        "absolute_volume_difference_ml": pytest.approx(22 * VOXEL_ML),
        "absolute_lesion_count_difference": 2,
        "lesion_f1": 0.0,
    }


def test_a_prediction_declaring_a_huge_grid_is_an_error_found_from_its_header(
    tmp_path: Path, ground_truth_path: Path
) -> None:
    # A header declaring 2048x2048x256 voxels (1 GiB) over a file of a few hundred bytes: refused from the
    # header, so no reader allocates the grid or waits for voxels that are not there.
    prediction_path = tmp_path / "sub-stroke0001.nii.gz"
    prediction_path.write_bytes(
        gzip.compress(nifti_bytes(np.zeros((1, 1, 1), np.uint8), dims=[3, 2048, 2048, 256]))
    )

    score = score_case(
        profile=ISLES24,
        case_id="sub-stroke0001",
        ground_truth_path=ground_truth_path,
        prediction_path=prediction_path,
    )

    assert score.status == CaseStatus.ERROR
    assert score.message == "The prediction is 2048x2048x256 voxels but the ground truth is 12x10x6."


def test_a_missing_prediction_scores_the_worst_values(ground_truth_path: Path) -> None:
    score = score_case(
        profile=ISLES24, case_id="sub-stroke0001", ground_truth_path=ground_truth_path, prediction_path=None
    )
    assert score.status == CaseStatus.MISSING
    assert score.metrics == {
        "dice": 0.0,
        "absolute_volume_difference_ml": pytest.approx(22 * VOXEL_ML),
        "absolute_lesion_count_difference": 2,
        "lesion_f1": 0.0,
    }


def test_an_empty_ground_truth_and_empty_prediction_score_perfectly(tmp_path: Path) -> None:
    ground_truth_path = write_mask(tmp_path / "gt.nii.gz", np.zeros((4, 5, 6), np.float64))
    prediction_path = write_mask(tmp_path / "pred.nii", np.zeros((4, 5, 6), np.uint8))
    score = score_case(
        profile=PROFILES["isles22"],
        case_id="c",
        ground_truth_path=ground_truth_path,
        prediction_path=prediction_path,
    )
    assert score.metrics == {
        "dice": 1.0,
        "absolute_volume_difference_ml": 0.0,
        "absolute_lesion_count_difference": 0,
        "lesion_f1": 1.0,
    }


def test_case_ids_are_the_name_up_to_the_first_underscore_or_the_stem() -> None:
    assert case_id_from_path(Path("sub-stroke0014_ses-02_lesion-msk.nii.gz")) == "sub-stroke0014"
    assert case_id_from_path(Path("sub-stroke0014.nii.gz")) == "sub-stroke0014"
    assert case_id_from_path(Path("case7.mha")) == "case7"


def test_case_files_refuses_a_folder_naming_a_case_twice(tmp_path: Path) -> None:
    write_mask(tmp_path / "sub-stroke0001.nii.gz", np.zeros((2, 2, 2), np.uint8))
    write_mask(tmp_path / "sub-stroke0001_other.mha", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="two files for case sub-stroke0001"):
        case_files(directory=tmp_path, role="predictions")


def test_score_folders_scores_every_case_in_two_workers_and_summarises(tmp_path: Path) -> None:
    lesions = two_lesions()
    for number in (1, 2, 3):
        write_mask(
            tmp_path / "gt" / f"sub-stroke000{number}_ses-02_lesion-msk.nii.gz", lesions.astype(np.uint16)
        )
    write_mask(tmp_path / "pred" / "sub-stroke0001.nii.gz", lesions.astype(np.uint8))
    write_mask(tmp_path / "pred" / "sub-stroke0002.nii.gz", np.zeros_like(lesions, np.uint8))
    write_mask(tmp_path / "pred" / "sub-stroke0009.nii.gz", np.zeros_like(lesions, np.uint8))
    seen: list[str] = []

    result = score_folders(
        profile=ISLES24,
        ground_truth_dir=tmp_path / "gt",
        predictions_dir=tmp_path / "pred",
        workers=2,
        on_case=lambda done, total, score: seen.append(f"{done}/{total}"),
    )

    assert [case.case_id for case in result.cases] == ["sub-stroke0001", "sub-stroke0002", "sub-stroke0003"]
    assert seen == ["1/3", "2/3", "3/3"]
    assert result.missing == ["sub-stroke0003"]
    assert result.errors == {}
    assert list(result.warnings) == ["sub-stroke0009"]
    dice = result.aggregates["dice"]
    assert (dice.mean, dice.median, dice.minimum, dice.maximum, dice.count) == (
        pytest.approx(1 / 3),
        0.0,
        0.0,
        1.0,
        3,
    )
    assert dice.std == pytest.approx(np.std([1.0, 0.0, 0.0]))
    assert result.as_json()["cases"]["sub-stroke0002"]["absolute_lesion_count_difference"] == 2


def test_one_worker_reading_ahead_scores_every_kind_of_case_as_several_workers_do(tmp_path: Path) -> None:
    lesions = two_lesions()
    for number in (1, 2, 3, 4, 5):
        write_mask(
            tmp_path / "gt" / f"sub-stroke000{number}_ses-02_lesion-msk.nii.gz", lesions.astype(np.float64)
        )
    write_mask(tmp_path / "pred" / "sub-stroke0001.nii.gz", lesions.astype(np.uint8))
    write_mask(tmp_path / "pred" / "sub-stroke0002.nii.gz", np.roll(lesions, 1, axis=2).astype(np.uint8))
    write_mask(tmp_path / "pred" / "sub-stroke0003.nii.gz", np.ones((6, 10, 11), np.uint8))
    (tmp_path / "pred" / "sub-stroke0004.nii.gz").write_bytes(b"not a gzip file")
    results = {
        workers: score_folders(
            profile=ISLES24,
            ground_truth_dir=tmp_path / "gt",
            predictions_dir=tmp_path / "pred",
            workers=workers,
        )
        for workers in (1, 2)
    }

    assert results[1].as_json() == results[2].as_json()
    statuses = [case.status for case in results[1].cases]
    assert statuses == [
        CaseStatus.SCORED,
        CaseStatus.SCORED,
        CaseStatus.ERROR,
        CaseStatus.ERROR,
        CaseStatus.MISSING,
    ]
    # shifted one voxel along x: 12 of the 18 voxels and 2 of the 4 still overlap
    assert results[1].cases[1].metrics["dice"] == pytest.approx(2 * 14 / 44)


HIGHER, LOWER = Direction.HIGHER_IS_BETTER, Direction.LOWER_IS_BETTER
EXTRA_COLUMNS = Profile(
    name="isles24-extra",
    title="ISLES'24 with the columns a phase may add",
    metrics=(
        *ISLES24.metrics,
        MetricColumn("hausdorff_distance_95_mm", "HD95", "mm", LOWER, WorstValue.INFINITY),
        MetricColumn("surface_dice_1mm", "Surface Dice at 1 mm", "", HIGHER, WorstValue.ZERO),
        MetricColumn("voxel_precision", "Precision", "", HIGHER, WorstValue.ZERO),
        MetricColumn("voxel_recall", "Recall", "", HIGHER, WorstValue.ZERO),
        MetricColumn("predicted_volume_ml", "Predicted volume", "ml", LOWER, WorstValue.ZERO),
        MetricColumn(
            "reference_volume_ml",
            "Reference volume",
            "ml",
            Direction.LOWER_IS_BETTER,
            WorstValue.GROUND_TRUTH_VOLUME,
        ),
    ),
    lesion_matching="one_to_one_iou",
    iou_threshold=0.2,
    connectivity=26,
)


def test_a_phase_may_add_distance_precision_recall_and_volume_columns(tmp_path: Path) -> None:
    write_mask(tmp_path / "gt" / "sub-stroke0001_ses-02_lesion-msk.nii.gz", two_lesions().astype(np.uint16))
    write_mask(tmp_path / "gt" / "sub-stroke0002_ses-02_lesion-msk.nii.gz", two_lesions().astype(np.uint16))
    # One slice (2.0 mm) deeper: the 2x3x3 lesion keeps 9 of its 18 voxels, the 1x2x2 one none.
    write_mask(
        tmp_path / "pred" / "sub-stroke0001.nii.gz", np.roll(two_lesions(), 1, axis=0).astype(np.uint8)
    )

    result = score_folders(
        profile=EXTRA_COLUMNS, ground_truth_dir=tmp_path / "gt", predictions_dir=tmp_path / "pred", workers=1
    )

    shifted = result.cases[0].metrics
    # Every voxel of these thin lesions is surface. GT to prediction: 9 voxels at 0 mm, 13 at 2 mm, and
    # back the same: both 95th percentiles are 2 mm. Within 1 mm: 9 + 9 of 22 + 22 surface voxels.
    assert shifted["hausdorff_distance_95_mm"] == pytest.approx(2.0)
    assert shifted["surface_dice_1mm"] == pytest.approx(18 / 44)
    assert shifted["voxel_precision"] == pytest.approx(9 / 22)
    assert shifted["voxel_recall"] == pytest.approx(9 / 22)
    assert shifted["predicted_volume_ml"] == pytest.approx(22 * VOXEL_ML)
    assert shifted["reference_volume_ml"] == pytest.approx(22 * VOXEL_ML)
    missing = result.cases[1].metrics
    assert math.isinf(missing["hausdorff_distance_95_mm"])
    assert missing["reference_volume_ml"] == pytest.approx(22 * VOXEL_ML)
    document = result.as_json()
    assert document["cases"]["sub-stroke0002"]["hausdorff_distance_95_mm"] is None
    assert document["aggregates"]["hausdorff_distance_95_mm"]["count"] == 1
    assert document["aggregates"]["hausdorff_distance_95_mm"]["mean"] == pytest.approx(2.0)


def test_score_folders_refuses_a_profile_column_it_cannot_compute(
    tmp_path: Path, ground_truth_path: Path
) -> None:
    column = MetricColumn("brier_score", "Brier", "", LOWER, WorstValue.ZERO)
    profile = Profile("odd", "odd", (column,), "one_to_one_iou", 0.2, 26)
    with pytest.raises(ValueError, match=r"'brier_score' is not one evaluation\.scoring can compute"):
        score_folders(profile=profile, ground_truth_dir=ground_truth_path.parent, predictions_dir=tmp_path)


def test_the_portals_profile_stores_both_lesion_counts_as_the_profile_counts_lesions(tmp_path: Path) -> None:
    ground_truth = two_lesions()
    prediction = np.zeros_like(ground_truth)
    prediction[1:3, 2:5, 2:5] = True
    prediction[5, 0, 0] = True
    prediction[4, 1, 1] = True  # touches the voxel above at a corner only: one lesion at 26-connectivity
    write_mask(tmp_path / "gt" / "sub-stroke0001_ses-02_lesion-msk.nii.gz", ground_truth.astype(np.uint16))
    write_mask(tmp_path / "gt" / "sub-stroke0002_ses-02_lesion-msk.nii.gz", ground_truth.astype(np.uint16))
    write_mask(tmp_path / "pred" / "sub-stroke0001.nii.gz", prediction.astype(np.uint8))

    result = score_folders(
        profile=profile_with_volumes(name="isles24"),
        ground_truth_dir=tmp_path / "gt",
        predictions_dir=tmp_path / "pred",
        workers=1,
    )

    scored, missing = (case.metrics for case in result.cases)
    assert scored["reference_lesion_count"] == lesion_count(ground_truth, connectivity=26) == 2
    assert scored["predicted_lesion_count"] == lesion_count(prediction, connectivity=26) == 2
    assert lesion_count(prediction, connectivity=6) == 3
    assert missing["predicted_lesion_count"] == 0
    assert missing["reference_lesion_count"] == 2
