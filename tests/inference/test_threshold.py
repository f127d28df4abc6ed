"""The reference algorithm ``threshold`` predicts Tmax > 6 s and honours the container contract."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from inference.contract import ISLES24, inputs_stage, output_collect
from inference.reference.threshold import image_read, threshold_predict
from tests.inference.cases import isles24_case_inputs, isles24_ground_truth, isles24_reference_image
from tests.inference.conftest import SMALL_CASE

REPOSITORY = Path(__file__).resolve().parents[2]


def test_threshold_predict_marks_tissue_with_tmax_over_six_seconds() -> None:
    tmax = np.array([[0.0, 5.9, 6.0], [6.1, 12.0, 30.0]])

    assert threshold_predict(tmax).tolist() == [[False, False, False], [True, True, True]]


def test_threshold_predict_keeps_only_the_core_where_relative_cbf_is_under_thirty_percent() -> None:
    tmax = np.array([2.0, 3.0, 8.0, 8.0, 8.0])
    cbf = np.array([50.0, 50.0, 40.0, 14.0, 16.0])  # normal tissue averages 50: 14 is 28 %, 16 is 32 %

    assert threshold_predict(tmax, cbf).tolist() == [False, False, False, True, False]


def test_threshold_predict_falls_back_to_tmax_when_no_tissue_is_normally_perfused() -> None:
    assert threshold_predict(np.array([7.0, 9.0]), np.array([1.0, 2.0])).tolist() == [True, True]


def test_threshold_predict_refuses_maps_on_different_grids() -> None:
    with pytest.raises(ValueError, match="must share a grid"):
        threshold_predict(np.zeros((2, 3)), np.zeros((3, 2)))


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha"])
def test_threshold_reads_images_as_simpleitk_does(small_release: Path, tmp_path: Path, suffix: str) -> None:
    source = isles24_case_inputs(small_release, SMALL_CASE)["preprocessed-tmax-map"]
    path = tmp_path / f"tmax{suffix}"
    sitk.WriteImage(sitk.ReadImage(str(source)), str(path), useCompression=True)
    expected = sitk.ReadImage(str(source))

    voxels, spacing, origin = image_read(path)

    np.testing.assert_array_equal(voxels, sitk.GetArrayFromImage(expected))
    assert spacing == pytest.approx(expected.GetSpacing())
    assert origin == pytest.approx(expected.GetOrigin(), abs=1e-4)


@pytest.mark.parametrize(
    "flags",
    [[], ["--with-cbf"], ["--tmax-threshold-s", "8"]],
    ids=["tmax", "tmax-and-cbf", "tmax-over-8-s"],
)
def test_threshold_run_as_a_module_writes_a_segmentation_that_finds_the_lesion(
    small_release: Path, tmp_path: Path, flags: list[str]
) -> None:
    staged = inputs_stage(
        isles24_case_inputs(small_release, SMALL_CASE), tmp_path / "input", interface_set=ISLES24
    )
    command = [sys.executable, "-m", "inference.reference.threshold", "--input", str(staged)]
    command += ["--output", str(tmp_path / "output"), *flags]

    completed = subprocess.run(
        command, cwd=REPOSITORY, capture_output=True, text=True, timeout=60, check=False
    )
    stored = output_collect(
        tmp_path / "output",
        reference_image_path=isles24_reference_image(small_release, SMALL_CASE),
        max_bytes=2**20,
        destination=tmp_path / "stored.nii.gz",
    )

    assert completed.returncode == 0, completed.stderr
    assert "lesion voxels" in completed.stdout
    prediction = sitk.GetArrayFromImage(sitk.ReadImage(str(stored))) > 0
    ground_truth = (
        sitk.GetArrayFromImage(sitk.ReadImage(str(isles24_ground_truth(small_release, SMALL_CASE)))) > 0
    )
    assert (prediction & ground_truth).sum() > 0.5 * ground_truth.sum()


def test_threshold_with_a_higher_tmax_threshold_marks_less_of_the_same_tissue(
    small_release: Path, tmp_path: Path
) -> None:
    staged = inputs_stage(
        isles24_case_inputs(small_release, SMALL_CASE), tmp_path / "input", interface_set=ISLES24
    )
    masks = {}
    for seconds in ("6", "8"):
        output = tmp_path / f"output-{seconds}"
        command = [sys.executable, "-m", "inference.reference.threshold", "--input", str(staged)]
        command += ["--output", str(output), "--tmax-threshold-s", seconds]
        subprocess.run(command, cwd=REPOSITORY, capture_output=True, timeout=60, check=True)
        image = sitk.ReadImage(str(output / "images" / "stroke-lesion-segmentation" / "output.mha"))
        masks[seconds] = sitk.GetArrayFromImage(image) > 0

    assert 0 < masks["8"].sum() < masks["6"].sum()
    assert not (masks["8"] & ~masks["6"]).any()
