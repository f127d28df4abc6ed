"""The container contract: inputs staged where grand-challenge puts them, one checked segmentation back."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from inference.contract import (
    ISLES22,
    ISLES24,
    OutputRejected,
    inputs_stage,
    output_collect,
    staged_inputs_digest,
)
from inference.conversions import ConversionCache, file_sha256
from tests.hostile_masks import ELSEWHERE, metaimage_header, nifti_bytes
from tests.inference.cases import isles24_case_inputs, isles24_reference_image
from tests.inference.conftest import SMALL_CASE

SEGMENTATION_FOLDER = Path("images/stroke-lesion-segmentation")
MAX_BYTES = 10 * 2**20


def volume_read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def segmentation_write(output: Path, array: np.ndarray, name: str = "output.mha") -> Path:
    """Write what a container would: an image with no spacing or origin."""
    path = output / SEGMENTATION_FOLDER / name
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    return path


@pytest.fixture
def reference(small_release: Path) -> Path:
    return isles24_reference_image(small_release, SMALL_CASE)


@pytest.fixture
def lesion(reference: Path) -> np.ndarray:
    """A box lesion on the reference grid, as uint8 {0, 1}."""
    array = np.zeros(volume_read(reference).shape, np.uint8)
    array[10:14, 20:30, 30:40] = 1
    return array


def collect(output: Path, reference: Path, tmp_path: Path) -> Path:
    return output_collect(
        output, reference_image_path=reference, max_bytes=MAX_BYTES, destination=tmp_path / "stored.nii.gz"
    )


def test_inputs_stage_puts_every_isles24_input_where_the_contract_says(
    small_release: Path, tmp_path: Path
) -> None:
    case_inputs = isles24_case_inputs(small_release, SMALL_CASE)

    folder = inputs_stage(case_inputs, tmp_path / "input", interface_set=ISLES24)

    tmax = folder / "images/preprocessed-tmax-map" / f"{SMALL_CASE}_ses-01_space-ncct_tmax.mha"
    np.testing.assert_array_equal(volume_read(tmax), volume_read(case_inputs["preprocessed-tmax-map"]))
    assert (
        json.loads((folder / "acute-stroke-clinical-information.json").read_text())["subject"] == SMALL_CASE
    )
    listing = json.loads((folder / "inputs.json").read_text())
    assert sorted(entry["interface"]["slug"] for entry in listing) == sorted(i.slug for i in ISLES24.inputs)
    assert {entry["interface"]["relative_path"] for entry in listing} >= {
        "images/perfusion-ct",
        "acute-stroke-clinical-information.json",
    }
    assert all(
        len(list((folder / "images" / slug).glob("*.mha"))) == 1 for slug in case_inputs if "ct" in slug
    )
    assert (folder / "images/perfusion-ct").stat().st_mode & 0o777 == 0o755


def test_inputs_stage_converts_a_case_once_when_given_a_cache(small_release: Path, tmp_path: Path) -> None:
    case_inputs = isles24_case_inputs(small_release, SMALL_CASE)
    cache_folder = tmp_path / "cache"
    cache = ConversionCache(folder=cache_folder, max_bytes=2**30)

    first = inputs_stage(case_inputs, tmp_path / "first", interface_set=ISLES24, conversion_cache=cache)
    second = inputs_stage(case_inputs, tmp_path / "second", interface_set=ISLES24, conversion_cache=cache)

    relative = Path("images/non-contrast-ct") / f"{SMALL_CASE}_ses-01_ncct.mha"
    assert os.path.samefile(first / relative, second / relative)
    assert len(list(cache_folder.iterdir())) == len(ISLES24.image_inputs) == 13


def test_the_staged_inputs_digest_names_the_case_by_its_stored_digests_and_values(
    small_release: Path, tmp_path: Path
) -> None:
    case_inputs = isles24_case_inputs(small_release, SMALL_CASE)
    digests = {slug: file_sha256(path) for slug, path in case_inputs.items() if isinstance(path, Path)}

    def digest_of(folder: str, inputs: dict, stored: dict[str, str]) -> str | None:
        staged = inputs_stage(inputs, tmp_path / folder, interface_set=ISLES24)
        return staged_inputs_digest(staged, interface_set=ISLES24, image_digests=stored)

    same = digest_of("first", case_inputs, digests)
    reimported = {**digests, "preprocessed-tmax-map": "0" * 64}
    other_clinical = {**case_inputs, "acute-stroke-clinical-information": {"age": 1}}

    assert same is not None
    assert digest_of("again", case_inputs, digests) == same
    assert digest_of("reimported", case_inputs, reimported) not in {None, same}
    assert digest_of("clinical", other_clinical, digests) not in {None, same}
    unknown = {slug: sha for slug, sha in digests.items() if slug != "preprocessed-tmax-map"}
    assert digest_of("unknown", case_inputs, unknown) is None  # the images are not read to name them


def test_inputs_stage_serves_isles22_as_a_second_configuration(tmp_path: Path) -> None:
    sources = {}
    for slug in ("dwi-brain-mri", "adc-brain-mri", "flair-brain-mri"):
        sources[slug] = tmp_path / f"{slug}.nii.gz"
        sitk.WriteImage(sitk.GetImageFromArray(np.ones((4, 5, 6), np.float32)), str(sources[slug]))

    folder = inputs_stage(sources, tmp_path / "input", interface_set=ISLES22)

    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.mha")) == [
        "images/adc-brain-mri/adc-brain-mri.mha",
        "images/dwi-brain-mri/dwi-brain-mri.mha",
        "images/flair-brain-mri/flair-brain-mri.mha",
    ]


def test_inputs_stage_copies_a_private_mha_source_without_opening_it_up(tmp_path: Path) -> None:
    sources = {}
    for slug in ("dwi-brain-mri", "adc-brain-mri", "flair-brain-mri"):
        sources[slug] = tmp_path / f"{slug}.mha"
        sitk.WriteImage(sitk.GetImageFromArray(np.ones((4, 5, 6), np.float32)), str(sources[slug]))
        sources[slug].chmod(0o600)

    folder = inputs_stage(sources, tmp_path / "input", interface_set=ISLES22)

    assert (folder / "images/dwi-brain-mri/dwi-brain-mri.mha").stat().st_mode & 0o777 == 0o644
    assert sources["dwi-brain-mri"].stat().st_mode & 0o777 == 0o600


def test_inputs_stage_refuses_a_case_that_lacks_an_input(small_release: Path, tmp_path: Path) -> None:
    case_inputs = isles24_case_inputs(small_release, SMALL_CASE)
    del case_inputs["preprocessed-cbf-map"]

    with pytest.raises(ValueError, match="lacks the inputs preprocessed-cbf-map"):
        inputs_stage(case_inputs, tmp_path / "input", interface_set=ISLES24)


def test_output_collect_stores_the_mask_with_the_reference_geometry(
    reference: Path, lesion: np.ndarray, tmp_path: Path
) -> None:
    segmentation_write(tmp_path / "output", lesion * 255)

    stored = sitk.ReadImage(str(collect(tmp_path / "output", reference, tmp_path)))

    expected = sitk.ReadImage(str(reference))
    assert stored.GetSpacing() == pytest.approx(expected.GetSpacing())
    assert stored.GetOrigin() == pytest.approx(expected.GetOrigin())
    assert stored.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(sitk.GetArrayFromImage(stored), lesion)


def test_output_collect_binarises_probabilities_above_zero(
    reference: Path, lesion: np.ndarray, tmp_path: Path
) -> None:
    segmentation_write(tmp_path / "output", lesion * np.float32(0.3), name="output.nii.gz")

    np.testing.assert_array_equal(volume_read(collect(tmp_path / "output", reference, tmp_path)), lesion)


def test_output_collect_refuses_nan(reference: Path, lesion: np.ndarray, tmp_path: Path) -> None:
    segmentation_write(tmp_path / "output", np.where(lesion > 0, np.nan, 0).astype(np.float32))

    with pytest.raises(OutputRejected, match="NaN or infinite values"):
        collect(tmp_path / "output", reference, tmp_path)


def test_output_collect_refuses_a_mask_of_another_shape_naming_both(reference: Path, tmp_path: Path) -> None:
    segmentation_write(tmp_path / "output", np.zeros((24, 64, 63), np.uint8))

    with pytest.raises(
        OutputRejected, match=r"output.mha is 63x64x24 voxels; the case's images are 64x64x24"
    ):
        collect(tmp_path / "output", reference, tmp_path)


def test_output_collect_refuses_a_header_claiming_a_huge_grid_without_reading_it(
    reference: Path, tmp_path: Path
) -> None:
    path = tmp_path / "output" / SEGMENTATION_FOLDER / "output.mha"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        b"NDims = 3\nDimSize = 100000 100000 100000\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n"
    )

    with pytest.raises(OutputRejected, match=r"output\.mha is 100000x100000x100000 voxels"):
        collect(tmp_path / "output", reference, tmp_path)


def test_output_collect_names_the_expected_path_when_nothing_was_written(
    reference: Path, tmp_path: Path
) -> None:
    (tmp_path / "output").mkdir()

    with pytest.raises(OutputRejected, match="in /output/images/stroke-lesion-segmentation/"):
        collect(tmp_path / "output", reference, tmp_path)


def test_output_collect_refuses_two_masks(reference: Path, lesion: np.ndarray, tmp_path: Path) -> None:
    segmentation_write(tmp_path / "output", lesion, name="a.mha")
    segmentation_write(tmp_path / "output", lesion, name="b.mha")

    with pytest.raises(OutputRejected, match=r"holds 2 images \(a.mha, b.mha\); write exactly one"):
        collect(tmp_path / "output", reference, tmp_path)


def test_output_collect_refuses_a_link_instead_of_a_file(
    reference: Path, lesion: np.ndarray, tmp_path: Path
) -> None:
    target = segmentation_write(tmp_path / "elsewhere", lesion)
    link = tmp_path / "output" / SEGMENTATION_FOLDER / "output.mha"
    link.parent.mkdir(parents=True)
    link.symlink_to(target)

    with pytest.raises(OutputRejected, match=r"output\.mha is a link or special file"):
        collect(tmp_path / "output", reference, tmp_path)


def test_output_collect_refuses_a_linked_folder(reference: Path, lesion: np.ndarray, tmp_path: Path) -> None:
    segmentation_write(tmp_path / "elsewhere", lesion)
    (tmp_path / "output").mkdir()
    (tmp_path / "output/images").symlink_to(tmp_path / "elsewhere/images")

    with pytest.raises(OutputRejected, match="/output/images must be a folder"):
        collect(tmp_path / "output", reference, tmp_path)


def test_output_collect_refuses_a_metaimage_whose_voxels_live_elsewhere(
    reference: Path, tmp_path: Path
) -> None:
    path = tmp_path / "output" / SEGMENTATION_FOLDER / "output.mha"
    path.parent.mkdir(parents=True)
    path.write_text("NDims = 3\nDimSize = 64 64 24\nElementType = MET_UCHAR\nElementDataFile = /etc/passwd\n")

    with pytest.raises(OutputRejected, match="must hold its voxels itself"):
        collect(tmp_path / "output", reference, tmp_path)


def test_output_collect_refuses_a_mask_over_the_size_limit(reference: Path, tmp_path: Path) -> None:
    segmentation_write(tmp_path / "output", np.random.default_rng(0).random((24, 64, 64)))

    with pytest.raises(OutputRejected, match=r"output.mha is 0.8 MB, over the limit of 0.1 MB"):
        output_collect(
            tmp_path / "output",
            reference_image_path=reference,
            max_bytes=100_000,
            destination=tmp_path / "s.nii.gz",
        )


@pytest.mark.parametrize("data_file_lines", ELSEWHERE)
@pytest.mark.parametrize("where", ["beside", "absolute"])
def test_output_collect_refuses_every_metaimage_whose_voxels_are_in_another_file(
    reference: Path, tmp_path: Path, data_file_lines: str, where: str
) -> None:
    secret = tmp_path / "output" / "images" / "secret.raw"
    path = tmp_path / "output" / SEGMENTATION_FOLDER / "output.mha"
    path.parent.mkdir(parents=True)
    secret.write_bytes(bytes(64 * 64 * 24))
    path.write_bytes(
        metaimage_header(
            data_file_lines, size=(64, 64, 24), secret="../secret.raw" if where == "beside" else str(secret)
        )
    )

    with pytest.raises(OutputRejected, match="must hold its voxels itself"):
        collect(tmp_path / "output", reference, tmp_path)


def test_output_collect_refuses_a_nifti_header_whose_voxels_are_in_another_file(
    reference: Path, lesion: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "output" / SEGMENTATION_FOLDER / "output.nii"
    path.parent.mkdir(parents=True)
    path.write_bytes(nifti_bytes(lesion, magic=b"ni1"))
    (path.parent / "output.img").write_bytes(lesion.tobytes())

    with pytest.raises(OutputRejected, match="is a NIfTI header whose voxels are in another file"):
        collect(tmp_path / "output", reference, tmp_path)


@pytest.mark.parametrize(("written_as", "named"), [(".nii.gz", "output.mha"), (".mha", "output.nii.gz")])
def test_output_collect_reads_the_format_of_the_content_whatever_the_name(
    reference: Path, lesion: np.ndarray, tmp_path: Path, written_as: str, named: str
) -> None:
    written = segmentation_write(tmp_path / "output", lesion, name=f"written{written_as}")
    written.rename(written.with_name(named))

    stored = collect(tmp_path / "output", reference, tmp_path)

    np.testing.assert_array_equal(volume_read(stored), lesion)
