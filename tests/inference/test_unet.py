"""The reference algorithm ``unet-ensemble``: its network, sliding-window and flip-averaged inference,
training on an ISLES'24 release, and the container entry point (its majority vote is tested in
tests/evaluation/test_fusion.py)."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from inference.contract import ISLES24, inputs_stage, output_collect
from inference.reference.unet.ensemble import (
    EnsembleManifest,
    flip_averaged_probability,
    sliding_window_probability,
)
from inference.reference.unet.model import UNet3d, UNetConfig
from inference.reference.unet.predict import channels_normalise
from inference.train import ensemble_train, member_train, training_cases_read
from inference.train import main as train_main
from releases.synthetic import write_release
from tests.inference.cases import isles24_case_inputs, isles24_reference_image

REPOSITORY = Path(__file__).resolve().parents[2]
PATCH = (16, 32, 32)
TINY = UNetConfig(in_channels=5, base_channels=4, levels=2)
# Two cores are shared by every test run here: one thread per process avoids OpenMP spinning 10x slower.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small synthetic cases (64x64x24) in the ISLES'24 release layout."""
    folder = tmp_path_factory.mktemp("unet-release")
    write_release(folder, cases=3, seed=1, size="small")
    return folder


@pytest.fixture(scope="module")
def weights(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A three-member ensemble trained for two short epochs on ``release``."""
    out = tmp_path_factory.mktemp("unet-weights")
    ensemble_train(
        dataset=release, out=out, members=3, epochs=2, steps_per_epoch=6, patch_size_zyx=PATCH, config=TINY
    )
    return out


def _network(in_channels: int = 2, seed: int = 0) -> UNet3d:
    torch.manual_seed(seed)
    return UNet3d(UNetConfig(in_channels=in_channels, base_channels=4, levels=2)).eval()


def _smooth_volume(shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return 3 * torch.nn.functional.avg_pool3d(noise[None], 3, stride=1, padding=1)[0]


@pytest.mark.parametrize("size", [(7, 13, 9), (24, 33, 17), (1, 4, 5)])
def test_unet_gives_one_logit_per_voxel_for_odd_sizes(size: tuple[int, int, int]) -> None:
    network = _network()

    with torch.no_grad():
        logits = network(torch.zeros((2, 2, *size)))

    assert logits.shape == (2, 1, *size)


def test_sliding_window_over_one_patch_is_direct_inference() -> None:
    network = _network()
    volume = _smooth_volume((2, *PATCH))

    with torch.no_grad():
        direct = torch.sigmoid(network(volume[None]))[0, 0]
    windowed = sliding_window_probability(network, volume, patch_size_zyx=PATCH)

    torch.testing.assert_close(windowed, direct)


def test_sliding_window_over_a_larger_volume_is_close_to_direct_inference() -> None:
    network = _network()
    volume = _smooth_volume((2, 24, 48, 48))

    with torch.no_grad():
        direct = torch.sigmoid(network(volume[None]))[0, 0]
    windowed = sliding_window_probability(network, volume, patch_size_zyx=PATCH)

    assert windowed.shape == direct.shape
    assert float((windowed - direct).abs().mean()) < 0.25 * float(direct.std())
    assert float(torch.corrcoef(torch.stack([windowed.flatten(), direct.flatten()]))[0, 1]) > 0.9


def test_sliding_window_pads_a_volume_smaller_than_the_patch_and_crops_the_result() -> None:
    windowed = sliding_window_probability(_network(), _smooth_volume((2, 5, 20, 40)), patch_size_zyx=PATCH)

    assert windowed.shape == (5, 20, 40)
    assert float(windowed.min()) >= 0.0
    assert float(windowed.max()) <= 1.0


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_flip_averaged_prediction_of_a_mirrored_case_is_the_mirrored_prediction(axis: int) -> None:
    network = _network()
    volume = _smooth_volume((2, 8, 12, 12))[None]
    mirrored = torch.flip(volume, [axis + 2])

    with torch.no_grad():
        plain = torch.sigmoid(network(volume))[:, 0]
        plain_of_mirrored = torch.sigmoid(network(mirrored))[:, 0]
        averaged = flip_averaged_probability(network, volume, flip_axes=(0, 1, 2))
        averaged_of_mirrored = flip_averaged_probability(network, mirrored, flip_axes=(0, 1, 2))

    torch.testing.assert_close(averaged_of_mirrored, torch.flip(averaged, [axis + 1]))
    assert not torch.allclose(plain_of_mirrored, torch.flip(plain, [axis + 1]), atol=1e-4)


def test_flip_averaged_prediction_of_a_symmetric_case_is_symmetric() -> None:
    half = _smooth_volume((2, 8, 12, 6))[None]
    symmetric = torch.cat([half, torch.flip(half, [4])], dim=4)

    with torch.no_grad():
        averaged = flip_averaged_probability(_network(), symmetric, flip_axes=(2,))

    torch.testing.assert_close(averaged, torch.flip(averaged, [3]))


def test_channels_are_normalised_per_case_and_a_missing_channel_is_zeros() -> None:
    rng = np.random.default_rng(0)
    tmax = rng.normal(8.0, 3.0, size=(4, 6, 6)).astype(np.float32)
    ncct = rng.normal(35.0, 10.0, size=(4, 6, 6)).astype(np.float32)

    volume = channels_normalise(
        {"preprocessed-tmax-map": tmax, "non-contrast-ct": ncct},
        channels=["preprocessed-tmax-map", "preprocessed-cbf-map", "non-contrast-ct"],
        shape=(4, 6, 6),
    )

    assert volume.shape == (3, 4, 6, 6)
    np.testing.assert_allclose(volume[[0, 2]].mean(axis=(1, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(volume[[0, 2]].std(axis=(1, 2, 3)), 1.0, atol=1e-5)
    assert not volume[1].any()


def test_channels_on_different_grids_are_refused() -> None:
    with pytest.raises(ValueError, match="must share a grid"):
        channels_normalise(
            {"non-contrast-ct": np.zeros((2, 3, 3))}, channels=["non-contrast-ct"], shape=(2, 3, 4)
        )


def test_training_loss_decreases_over_a_few_steps(release: Path) -> None:
    cases = training_cases_read(dataset=release, patch_size_zyx=PATCH)

    trained = member_train(
        training=cases,
        validation=[],
        config=TINY,
        patch_size_zyx=PATCH,
        epochs=1,
        steps_per_epoch=16,
        batch_size=2,
        seed=3,
        device="cpu",
    )

    losses = trained.loss_per_step
    assert len(losses) == 16
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    assert trained.validation_dice is None


def test_training_writes_each_members_weights_and_a_manifest(weights: Path, release: Path) -> None:
    manifest = EnsembleManifest.read(weights)
    document = json.loads((weights / "manifest.json").read_text())

    assert manifest.channels == (
        "preprocessed-tmax-map",
        "preprocessed-cbf-map",
        "preprocessed-cbv-map",
        "preprocessed-mtt-map",
        "non-contrast-ct",
    )
    assert document["patch_size_zyx"] == list(PATCH)
    assert "percentiles" in document["normalisation"]
    assert [member.file for member in manifest.members] == ["member-0.pt", "member-1.pt", "member-2.pt"]
    assert all((weights / member.file).stat().st_size > 0 for member in manifest.members)
    cases = sorted(path.name for path in (release / "derivatives").iterdir())
    splits = {member.validation_cases for member in manifest.members}
    for member in manifest.members:
        assert sorted(member.training_cases + member.validation_cases) == cases
        assert len(member.validation_cases) == 1
        assert len(member.loss_per_epoch) == 2
        assert member.validation_dice is not None
        assert 0.0 <= member.validation_dice <= 1.0
    assert len(splits) > 1


def test_training_from_the_command_line_refuses_a_folder_without_cases(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no case with a lesion mask"):
        train_main(["--dataset", str(tmp_path), "--out", str(tmp_path / "weights")])


def test_unet_run_as_a_module_writes_a_binary_mask_on_the_reference_grid(
    weights: Path, release: Path, tmp_path: Path
) -> None:
    case = "sub-stroke0001"
    staged = inputs_stage(isles24_case_inputs(release, case), tmp_path / "input", interface_set=ISLES24)
    command = [sys.executable, "-m", "inference.reference.unet", "--input", str(staged)]
    command += ["--output", str(tmp_path / "output"), "--weights", str(weights), "--device", "cpu"]

    completed = subprocess.run(
        command,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **ONE_THREAD},
    )

    assert completed.returncode == 0, completed.stderr
    assert "3 members" in completed.stdout
    written = sitk.ReadImage(
        str(tmp_path / "output" / "images" / "stroke-lesion-segmentation" / "output.mha")
    )
    reference = sitk.ReadImage(str(isles24_reference_image(release, case)))
    assert written.GetSize() == reference.GetSize()
    assert written.GetSpacing() == pytest.approx(reference.GetSpacing())
    assert written.GetOrigin() == pytest.approx(reference.GetOrigin(), abs=1e-3)
    assert set(np.unique(sitk.GetArrayFromImage(written))) <= {0, 1}
    stored = output_collect(
        tmp_path / "output",
        reference_image_path=isles24_reference_image(release, case),
        max_bytes=2**20,
        destination=tmp_path / "stored.nii.gz",
    )
    assert stored.is_file()
