"""The command line, run as a subprocess on a folder laid out as an ISLES'24 release and its predictions."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.evaluation.masks import two_lesions, write_mask

REPOSITORY = Path(__file__).resolve().parents[2]


def run_cli(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evaluation", *map(str, arguments)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def release(tmp_path: Path) -> tuple[Path, Path]:
    """Three ground-truth cases in the official encodings; one exact, one shifted prediction, one missing."""
    lesions = two_lesions()
    ground_truth = tmp_path / "ground-truth"
    predictions = tmp_path / "predictions"
    encodings = [(np.uint16, 1), (np.uint16, 65535), (np.float64, 1.0)]
    for number, (dtype, foreground) in zip((1, 3, 4), encodings, strict=True):
        name = f"sub-stroke000{number}_ses-02_lesion-msk.nii.gz"
        write_mask(ground_truth / name, lesions.astype(dtype) * dtype(foreground))
    write_mask(predictions / "sub-stroke0001.nii.gz", lesions.astype(np.uint8))
    write_mask(predictions / "sub-stroke0003.nii.gz", np.roll(lesions, 1, axis=2).astype(np.uint8))
    return ground_truth, predictions


def test_score_writes_cases_aggregates_and_missing_as_json(
    release: tuple[Path, Path], tmp_path: Path
) -> None:
    ground_truth, predictions = release
    output = tmp_path / "metrics.json"

    finished = run_cli(
        "score", "--profile", "isles24", "--ground-truth", ground_truth, "--predictions", predictions,
        "--output", output, "--workers", "2",
    )  # fmt: skip

    assert finished.returncode == 0, finished.stderr
    assert "[3/3]" in finished.stderr
    document = json.loads(output.read_text())
    assert document["profile"] == "isles24"
    assert sorted(document["cases"]) == ["sub-stroke0001", "sub-stroke0003", "sub-stroke0004"]
    assert document["cases"]["sub-stroke0001"] == {
        "dice": 1.0,
        "absolute_volume_difference_ml": 0.0,
        "absolute_lesion_count_difference": 0,
        "lesion_f1": 1.0,
    }
    # Shifted one voxel in x: the 2x3x3 lesion keeps 2x3x2 = 12 of 18 voxels (IoU 12/24), the 2x2 one
    # keeps 2 of 4 (IoU 2/6 = 1/3): both matched. Dice = 2 * 14 / 44.
    shifted = document["cases"]["sub-stroke0003"]
    assert shifted["dice"] == pytest.approx(28 / 44)
    assert shifted["lesion_f1"] == 1.0
    assert document["missing"] == ["sub-stroke0004"]
    assert document["errors"] == {}
    assert document["aggregates"]["lesion_f1"] == {
        "mean": pytest.approx(2 / 3),
        "std": pytest.approx(np.std([1.0, 1.0, 0.0])),
        "median": 1.0,
        "min": 0.0,
        "max": 1.0,
        "count": 3,
    }


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        pytest.param(
            {"--profile": "isles99"}, "There is no metric profile called 'isles99'", id="unknown-profile"
        ),
        pytest.param({"--predictions": "nowhere"}, "predictions folder", id="missing-folder"),
        pytest.param(
            {"--ground-truth": "empty"}, "holds no .nii.gz, .nii or .mha file", id="empty-ground-truth"
        ),
        pytest.param({"--output": "nowhere/metrics.json"}, "does not exist", id="output-folder-missing"),
        pytest.param({"--workers": "0"}, "--workers must be 1 or more", id="no-workers"),
    ],
)
def test_score_refuses_unusable_arguments_with_exit_status_2_and_one_sentence(
    release: tuple[Path, Path], tmp_path: Path, change: dict[str, str], sentence: str
) -> None:
    ground_truth, predictions = release
    (tmp_path / "empty").mkdir()
    arguments = {
        "--profile": "isles24",
        "--ground-truth": str(ground_truth),
        "--predictions": str(predictions),
        "--output": str(tmp_path / "metrics.json"),
    }
    folders = ("--ground-truth", "--predictions", "--output")
    arguments.update(
        {key: str(tmp_path / value) if key in folders else value for key, value in change.items()}
    )

    finished = run_cli("score", *[part for pair in arguments.items() for part in pair])

    assert finished.returncode == 2
    assert sentence in finished.stderr
    assert len(finished.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "metrics.json").exists()


def test_score_refuses_a_folder_with_two_files_for_one_case(
    release: tuple[Path, Path], tmp_path: Path
) -> None:
    ground_truth, predictions = release
    write_mask(predictions / "sub-stroke0001_copy.mha", two_lesions().astype(np.uint8))
    finished = run_cli(
        "score", "--profile", "isles22", "--ground-truth", ground_truth, "--predictions", predictions,
        "--output", tmp_path / "metrics.json",
    )  # fmt: skip
    assert finished.returncode == 2
    assert "two files for case sub-stroke0001" in finished.stderr
