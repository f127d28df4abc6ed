"""Reading mask files: every format and encoding the challenge meets reads as the same binary mask; and
the geometry checks' examples."""

import doctest
import gzip
from pathlib import Path

import numpy as np
import pytest

from evaluation import io
from evaluation.io import ImageRefused, image_header_read, image_read, read_mask
from tests.evaluation.masks import ANISOTROPIC_MM, ORIGIN_MM, two_lesions, write_mask
from tests.hostile_masks import (
    ELSEWHERE,
    ELSEWHERE_SAYS,
    CorruptMask,
    corrupt_masks,
    metaimage_bytes,
    metaimage_header,
    nifti_bytes,
)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".mha"])
@pytest.mark.parametrize(
    ("dtype", "foreground"),
    [
        pytest.param(np.uint16, 1, id="uint16-0-1"),
        pytest.param(np.uint16, 65535, id="uint16-0-65535"),
        pytest.param(np.float64, 1.0, id="float64-0-1"),
        pytest.param(np.float32, 0.25, id="float32-soft"),
        pytest.param(np.uint8, 1, id="uint8-0-1"),
    ],
)
def test_read_mask_binarises_every_encoding_and_format_with_above_zero(
    tmp_path: Path, suffix: str, dtype: type, foreground: float
) -> None:
    lesions = two_lesions()
    path = write_mask(tmp_path / f"case{suffix}", lesions.astype(dtype) * dtype(foreground))

    mask = read_mask(path)

    assert mask.array.dtype == np.bool_
    np.testing.assert_array_equal(mask.array, lesions)
    assert mask.spacing_mm == pytest.approx(ANISOTROPIC_MM)
    assert mask.origin_mm == pytest.approx(ORIGIN_MM)
    assert mask.shape_text == "12x10x6"


def test_read_mask_reads_a_nifti_whose_voxels_span_several_chunks(tmp_path: Path) -> None:
    lesions = np.zeros((20, 256, 256), dtype=bool)  # 1.3 M float64 voxels: 10.5 MB, two 8 MB chunks
    lesions[19, 255, 250:] = True
    lesions[0, 0, 0] = True
    mask = read_mask(write_mask(tmp_path / "big.nii.gz", lesions.astype(np.float64)))
    np.testing.assert_array_equal(mask.array, lesions)


def test_read_mask_applies_the_nifti_scaling_before_binarising(tmp_path: Path) -> None:
    path = write_mask(tmp_path / "scaled.nii", two_lesions().astype(np.int16))
    raw = bytearray(path.read_bytes())
    # scl_slope 1, scl_inter -1 (header bytes 112-119): stored 1 -> 0 and 0 -> -1, nothing above zero.
    raw[112:120] = np.array([1.0, -1.0], dtype="<f4").tobytes()
    path.write_bytes(bytes(raw))
    assert not read_mask(path).array.any()


def test_read_mask_names_the_file_when_it_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.nii.gz"
    path.write_bytes(gzip.compress(b"not an image at all" * 30))
    with pytest.raises(ValueError, match=r"notes\.nii\.gz is not a NIfTI-1 file"):
        read_mask(path)


def test_read_mask_names_a_truncated_file(tmp_path: Path) -> None:
    path = write_mask(tmp_path / "cut.nii", two_lesions().astype(np.uint16))
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match=r"cut\.nii ends before its"):
        read_mask(path)


def test_read_mask_names_an_unreadable_mha(tmp_path: Path) -> None:
    path = tmp_path / "broken.mha"
    path.write_text("ObjectType = Image\n")
    with pytest.raises(ValueError, match=r"broken\.mha is not a readable image"):
        read_mask(path)


def test_the_io_docstring_examples_give_the_values_they_show() -> None:
    result = doctest.testmod(io, optionflags=doctest.ELLIPSIS, raise_on_error=False)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("data_file_lines", ELSEWHERE)
@pytest.mark.parametrize("where", ["beside", "absolute"])
def test_read_mask_refuses_a_metaimage_whose_voxels_are_in_another_file(
    tmp_path: Path, data_file_lines: str, where: str
) -> None:
    secret = tmp_path / "sub-stroke0100_ground_truth.raw"
    secret.write_bytes(bytes(range(120)))
    path = tmp_path / "masks" / "sub-stroke0100.mha"
    path.parent.mkdir()
    path.write_bytes(
        metaimage_header(data_file_lines, secret=f"../{secret.name}" if where == "beside" else str(secret))
    )

    with pytest.raises(ImageRefused, match=rf"^sub-stroke0100\.mha ({ELSEWHERE_SAYS})"):
        read_mask(path)
    with pytest.raises(ImageRefused, match=ELSEWHERE_SAYS):
        image_read(path)


def test_read_mask_refuses_a_nifti_header_whose_voxels_are_in_another_file(tmp_path: Path) -> None:
    path = tmp_path / "sub-stroke0100.nii"
    path.write_bytes(nifti_bytes(two_lesions().astype(np.uint8), magic=b"ni1"))
    (tmp_path / "sub-stroke0100.img").write_bytes(two_lesions().astype(np.uint8).tobytes())

    with pytest.raises(
        ImageRefused, match=r"sub-stroke0100\.nii is a NIfTI header whose voxels are in another"
    ):
        read_mask(path)


@pytest.mark.parametrize(
    ("written_as", "named"), [(".nii.gz", "case.mha"), (".mha", "case.nii.gz"), (".nii", "case.nii.gz")]
)
def test_read_mask_reads_the_format_of_the_content_whatever_the_name(
    tmp_path: Path, written_as: str, named: str
) -> None:
    written = write_mask(tmp_path / f"written{written_as}", two_lesions().astype(np.uint8))
    path = written.rename(tmp_path / named)

    np.testing.assert_array_equal(read_mask(path).array, two_lesions())
    np.testing.assert_array_equal(image_read(path).GetSize(), (12, 10, 6))
    assert image_header_read(path).suffix == written_as


@pytest.mark.parametrize("corrupt", corrupt_masks("sub-stroke0100"))
def test_read_mask_names_the_file_and_what_is_wrong_with_a_corrupt_mask(
    tmp_path: Path, corrupt: CorruptMask
) -> None:
    path = tmp_path / corrupt.name
    path.write_bytes(corrupt.content)

    with pytest.raises(ImageRefused) as refused:
        read_mask(path)

    assert str(refused.value).startswith(f"{corrupt.name} ")
    assert corrupt.says in str(refused.value)


def test_read_mask_refuses_a_grid_over_its_voxel_budget_before_reading_a_voxel(tmp_path: Path) -> None:
    path = tmp_path / "sub-stroke0100.nii.gz"
    # A 2048x2048x256 grid (1 GiB of voxels) declared by a header with no voxels behind it.
    path.write_bytes(gzip.compress(nifti_bytes(np.zeros((1, 1, 1), np.uint8), dims=[3, 2048, 2048, 256])))

    with pytest.raises(
        ImageRefused, match=r"is 2048x2048x256 voxels, more than the 120 voxels a mask may have"
    ):
        read_mask(path, max_voxels=120)


def test_read_mask_refuses_a_metaimage_key_given_twice(tmp_path: Path) -> None:
    # Which DimSize would a reader take? Neither is trusted.
    path = tmp_path / "case.mha"
    path.write_bytes(
        metaimage_bytes(two_lesions().astype(np.uint8), data_file="LOCAL").replace(
            b"DimSize = 12 10 6\n", b"DimSize = 12 10 6\nDimSize = 4096 4096 4096\n"
        )
    )

    with pytest.raises(
        ImageRefused, match=r"case\.mha is not a readable image: its MetaImage header sets DimSize twice"
    ):
        read_mask(path)
