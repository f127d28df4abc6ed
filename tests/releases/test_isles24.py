"""The ISLES'24 release layout: scanning a folder, reading headers, masks and clinical tables."""

from pathlib import Path

import numpy as np
import openpyxl
import pytest
import SimpleITK as sitk

from releases.isles24 import (
    LAYOUT,
    ReleaseFile,
    ReleaseFileError,
    SlotKind,
    clinical_table_read,
    image_header_read,
    mask_binarise,
    release_scan,
)
from tests.hostile_tables import FAR_DOWN, workbook_bytes

EXPECTED_SLOTS = [slot.name for slot in LAYOUT if slot.expected]


def _file(release: Path, case: str, slot_name: str) -> ReleaseFile:
    scanned = {case_files.name: case_files for case_files in release_scan(release)}[case]
    return next(file for file in scanned.found if file.slot.name == slot_name)


def test_release_scan_finds_every_case_and_every_file_of_a_whole_release(
    release: Path, case_names: list[str]
) -> None:
    cases = release_scan(release)

    assert [case.name for case in cases] == case_names
    for case in cases:
        assert sorted(file.slot.name for file in case.found) == sorted(EXPECTED_SLOTS)
        assert case.missing == ()
        assert all(file.path.is_file() for file in case.found)


def test_release_scan_keeps_the_gaps_in_subject_numbers(release: Path) -> None:
    numbers = [int(case.name.removeprefix("sub-stroke")) for case in release_scan(release)]

    assert numbers == sorted(numbers)
    assert numbers[-1] - numbers[0] > len(numbers) - 1


def test_a_deleted_modality_is_listed_missing_and_the_rest_still_found(
    release: Path, case_names: list[str]
) -> None:
    deleted = f"raw_data/{case_names[1]}/ses-01/{case_names[1]}_ses-01_cta.nii.gz"
    (release / deleted).unlink()

    cases = {case.name: case for case in release_scan(release)}

    assert cases[case_names[1]].missing == (deleted,)
    assert "ct-angiography" not in {file.slot.name for file in cases[case_names[1]].found}
    assert cases[case_names[0]].missing == ()


def test_the_mask_name_of_later_releases_is_found_too(release: Path, case_names: list[str]) -> None:
    session = release / "derivatives" / case_names[0] / "ses-02"
    (session / f"{case_names[0]}_ses-02_lesion-msk.nii.gz").rename(
        session / f"{case_names[0]}_ses-02_space-ncct_lesion-msk.nii.gz"
    )

    case = release_scan(release)[0]

    assert case.missing == ()
    assert case.of_kind(SlotKind.MASK)[0].relative_path.endswith("space-ncct_lesion-msk.nii.gz")


def test_image_header_gives_shape_spacing_and_voxel_type_of_4d_perfusion_ct(
    release: Path, case_names: list[str]
) -> None:
    header = image_header_read(_file(release, case_names[0], "preprocessed-perfusion-ct"))

    assert header.shape == (64, 64, 24, 8)
    assert header.spacing_mm == pytest.approx((3.2, 3.2, 6.0, 4.0))
    assert header.pixel_type == "int16"
    assert len(header.sha256) == 64


def test_a_truncated_image_is_refused_with_its_path_in_the_release(
    release: Path, case_names: list[str]
) -> None:
    file = _file(release, case_names[0], "non-contrast-ct")
    file.path.write_bytes(file.path.read_bytes()[:4000])

    with pytest.raises(ReleaseFileError, match=file.relative_path):
        image_header_read(file)


@pytest.mark.parametrize(
    ("index", "encoding"), [(0, "uint16 {0, 1}"), (1, "uint16 {0, 65535}"), (2, "float64 {0.0, 1.0}")]
)
def test_masks_of_each_official_encoding_become_uint8_zero_one(
    release: Path, case_names: list[str], tmp_path: Path, index: int, encoding: str
) -> None:
    file = _file(release, case_names[index], "stroke-lesion-segmentation")
    source = sitk.ReadImage(str(file.path))

    mask = mask_binarise(file)
    (tmp_path / "mask.nii.gz").write_bytes(mask.nifti_bytes)
    stored = sitk.ReadImage(str(tmp_path / "mask.nii.gz"))

    assert mask.source_encoding == encoding
    assert stored.GetPixelIDTypeAsString() == "8-bit unsigned integer"
    assert set(np.unique(sitk.GetArrayViewFromImage(stored))) == {0, 1}
    assert stored.GetSpacing() == source.GetSpacing()
    assert stored.GetOrigin() == source.GetOrigin()
    nonzero = int(np.count_nonzero(sitk.GetArrayViewFromImage(source)))
    assert mask.lesion_volume_ml == pytest.approx(nonzero * np.prod(source.GetSpacing()) / 1000)


def test_clinical_tables_read_numbers_as_numbers_from_csv(release: Path, case_names: list[str]) -> None:
    row = clinical_table_read(_file(release, case_names[0], "demographic_baseline"))

    assert row["subject"] == case_names[0]
    assert isinstance(row["age"], int)
    assert row["sex"] in {"F", "M"}


def test_clinical_csv_cells_that_json_cannot_hold_as_numbers_stay_text(
    release: Path, case_names: list[str]
) -> None:
    file = _file(release, case_names[0], "outcome")
    file.path.write_text("subject,mrs_90d,nihss_24h,weight_kg,note\nsub-x,nan,,72.5,inf\n")

    row = clinical_table_read(file)

    assert row == {"subject": "sub-x", "mrs_90d": "nan", "nihss_24h": None, "weight_kg": 72.5, "note": "inf"}


def test_clinical_tables_read_from_xlsx_like_from_csv(release: Path, case_names: list[str]) -> None:
    csv_file = _file(release, case_names[0], "outcome")
    workbook = openpyxl.Workbook()
    workbook.active.append(["subject", "mrs_90d", "note"])
    workbook.active.append([case_names[0], 3, None])
    workbook.save(csv_file.path.with_suffix(".xlsx"))
    csv_file.path.unlink()

    row = clinical_table_read(_file(release, case_names[0], "outcome"))

    assert row == {"subject": case_names[0], "mrs_90d": 3, "note": None}


def test_a_garbage_clinical_table_is_refused_with_its_path(release: Path, case_names: list[str]) -> None:
    file = _file(release, case_names[0], "outcome")
    xlsx = file.path.with_suffix(".xlsx")
    xlsx.write_bytes(b"not a workbook")
    file.path.unlink()

    with pytest.raises(ReleaseFileError, match=r"outcome\.xlsx is not a readable clinical table"):
        clinical_table_read(_file(release, case_names[0], "outcome"))


def test_a_clinical_workbook_that_claims_a_million_rows_is_refused_without_reading_them(
    release: Path, case_names: list[str]
) -> None:
    file = _file(release, case_names[0], "outcome")
    file.path.with_suffix(".xlsx").write_bytes(
        workbook_bytes([["subject", "mrs_90d"], [case_names[0], 3]], sheet_edit=FAR_DOWN)
    )
    file.path.unlink()

    with pytest.raises(
        ReleaseFileError, match=r"outcome\.xlsx is not a readable clinical table: it has more than"
    ):
        clinical_table_read(_file(release, case_names[0], "outcome"))
