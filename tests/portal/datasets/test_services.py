"""Importing an ISLES'24 release: rows, stored files, idempotence, rollback and the import's life."""

from pathlib import Path

import numpy as np
import openpyxl
import pytest
import SimpleITK as sitk
from django.core.exceptions import ValidationError

from portal.challenges.models import Split
from portal.datasets.exceptions import DatasetImportError
from portal.datasets.models import Case, DatasetImport, GroundTruth, Image
from portal.datasets.services import (
    dataset_import_create,
    dataset_import_requeue,
    dataset_import_run,
    isles24_import,
)
from tests.portal.datasets.factories import DatasetFactory

pytestmark = pytest.mark.django_db

IMAGES_PER_CASE = 13


def _stored_voxels(ground_truth: GroundTruth) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(ground_truth.file.path))


def _mask_path(release: Path, case: str) -> Path:
    return release / "derivatives" / case / "ses-02" / f"{case}_ses-02_lesion-msk.nii.gz"


def _private_files() -> set[Path]:
    return {path for path in Path(Image.file.field.storage.location).rglob("*") if path.is_file()}


def _row_counts() -> tuple[int, int, int]:
    return Case.objects.count(), Image.objects.count(), GroundTruth.objects.count()


def test_importing_three_cases_stores_every_case_image_and_ground_truth(
    release: Path, case_names: list[str]
) -> None:
    dataset = DatasetFactory()

    report = isles24_import(dataset=dataset, root=release, split=Split.TRAIN)

    assert report.cases == 3
    assert report.images == 3 * IMAGES_PER_CASE
    assert report.masks == 3
    assert list(dataset.cases.values_list("name", flat=True)) == case_names
    assert _row_counts() == (3, 3 * IMAGES_PER_CASE, 3)
    ncct = Image.objects.get(case__name=case_names[0], interface="non-contrast-ct")
    source = release / "raw_data" / case_names[0] / "ses-01" / f"{case_names[0]}_ses-01_ncct.nii.gz"
    assert ncct.file.open("rb").read() == source.read_bytes()
    assert ncct.shape == [64, 64, 24]
    assert ncct.pixel_type == "int16"


@pytest.mark.parametrize("index", [0, 1, 2])
def test_stored_masks_are_zero_one_uint8_with_the_source_lesion_volume(
    release: Path, case_names: list[str], index: int
) -> None:
    isles24_import(dataset=DatasetFactory(), root=release, split=Split.TRAIN)
    source = sitk.ReadImage(str(_mask_path(release, case_names[index])))
    nonzero = int(np.count_nonzero(sitk.GetArrayViewFromImage(source)))

    ground_truth = GroundTruth.objects.get(case__name=case_names[index])
    voxels = _stored_voxels(ground_truth)

    assert voxels.dtype == np.uint8
    assert set(np.unique(voxels)) == {0, 1}
    assert int(voxels.sum()) == nonzero
    assert ground_truth.lesion_volume_ml == pytest.approx(nonzero * np.prod(source.GetSpacing()) / 1000)
    assert ground_truth.source_encoding.startswith(("uint16", "float64"))


def test_a_zero_or_65535_mask_is_recorded_as_such_and_stored_as_zero_one(
    release: Path, case_names: list[str]
) -> None:
    isles24_import(dataset=DatasetFactory(), root=release, split=Split.TRAIN)

    ground_truth = GroundTruth.objects.get(case__name=case_names[1])

    assert ground_truth.source_encoding == "uint16 {0, 65535}"
    assert _stored_voxels(ground_truth).max() == 1


def test_importing_the_same_release_again_changes_no_rows(release: Path) -> None:
    dataset = DatasetFactory()
    isles24_import(dataset=dataset, root=release, split=Split.TRAIN)
    first = sorted(Image.objects.values_list("pk", "sha256", "file"))

    isles24_import(dataset=dataset, root=release, split=Split.TRAIN)

    assert _row_counts() == (3, 3 * IMAGES_PER_CASE, 3)
    assert sorted(Image.objects.values_list("pk", "sha256", "file")) == first


def test_a_changed_file_replaces_its_image_on_reimport(release: Path, case_names: list[str]) -> None:
    dataset = DatasetFactory()
    isles24_import(dataset=dataset, root=release, split=Split.TRAIN)
    case = case_names[0]
    ncct = release / "raw_data" / case / "ses-01" / f"{case}_ses-01_ncct.nii.gz"
    cta = release / "raw_data" / case / "ses-01" / f"{case}_ses-01_cta.nii.gz"
    ncct.write_bytes(cta.read_bytes())

    isles24_import(dataset=dataset, root=release, split=Split.TRAIN)

    image = Image.objects.get(case__name=case, interface="non-contrast-ct")
    assert image.file.open("rb").read() == cta.read_bytes()
    assert Image.objects.count() == 3 * IMAGES_PER_CASE


def test_a_corrupt_file_stops_the_import_naming_it_and_keeps_nothing(
    release: Path, case_names: list[str]
) -> None:
    broken = f"derivatives/{case_names[2]}/ses-01/perfusion-maps/{case_names[2]}_ses-01_space-ncct_cbf.nii.gz"
    (release / broken).write_bytes(b"this is not a NIfTI file")
    files_before = _private_files()

    with pytest.raises(DatasetImportError, match=broken):
        isles24_import(dataset=DatasetFactory(), root=release, split=Split.TRAIN)

    assert _row_counts() == (0, 0, 0)
    assert _private_files() == files_before


def test_a_missing_modality_is_listed_on_its_case_and_the_rest_imported(
    release: Path, case_names: list[str]
) -> None:
    missing = f"raw_data/{case_names[0]}/ses-01/perfusion-maps/{case_names[0]}_ses-01_tmax.nii.gz"
    (release / missing).unlink()

    report = isles24_import(dataset=DatasetFactory(), root=release, split=Split.TEST)

    case = Case.objects.get(name=case_names[0])
    assert case.missing_files == [missing]
    assert case.split == Split.TEST
    assert case.images.count() == IMAGES_PER_CASE - 1
    assert report.missing_files == {case_names[0]: (missing,)}


def test_clinical_tables_are_kept_apart_as_admission_data_and_outcomes_with_numbers_as_numbers(
    release: Path, case_names: list[str]
) -> None:
    isles24_import(dataset=DatasetFactory(), root=release, split=Split.TRAIN)

    case = Case.objects.get(name=case_names[0])

    assert set(case.admission_data) == {"demographic_baseline"}
    assert set(case.outcome_data) == {"outcome"}
    assert isinstance(case.admission_data["demographic_baseline"]["age"], int)
    assert isinstance(case.outcome_data["outcome"]["mrs_90d"], int)


def test_clinical_data_is_read_from_xlsx_when_the_release_has_no_csv(
    release: Path, case_names: list[str]
) -> None:
    case = case_names[2]
    outcome = release / "phenotype" / case / "ses-02" / f"{case}_ses-02_outcome.csv"
    outcome.unlink()
    workbook = openpyxl.Workbook()
    workbook.active.append(["subject", "mrs_90d"])
    workbook.active.append([case, 4])
    workbook.save(outcome.with_suffix(".xlsx"))

    isles24_import(dataset=DatasetFactory(), root=release, split=Split.TRAIN)

    assert Case.objects.get(name=case).outcome_data["outcome"] == {"subject": case, "mrs_90d": 4}


def test_dataset_import_create_refuses_a_folder_that_is_not_a_release(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="neither raw_data/ nor derivatives/"):
        dataset_import_create(dataset=DatasetFactory(), source_path=tmp_path, split=Split.TRAIN)
    with pytest.raises(ValidationError, match="is not a folder on the server"):
        dataset_import_create(dataset=DatasetFactory(), source_path=tmp_path / "nope", split=Split.TRAIN)
    with pytest.raises(ValidationError, match="'VALIDATION' is not a split"):
        dataset_import_create(dataset=DatasetFactory(), source_path=tmp_path, split="VALIDATION")
    assert DatasetImport.objects.count() == 0


def test_dataset_import_create_queues_the_task_on_commit_and_it_imports(
    release: Path, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        dataset_import = dataset_import_create(
            dataset=DatasetFactory(), source_path=release, split=Split.TRAIN
        )
        assert DatasetImport.objects.get().status == DatasetImport.Status.QUEUED

    dataset_import.refresh_from_db()
    assert len(callbacks) == 1
    assert dataset_import.status == DatasetImport.Status.SUCCEEDED
    assert dataset_import.attempt == 1
    assert dataset_import.cases_imported == 3
    assert dataset_import.report["images"] == 3 * IMAGES_PER_CASE
    assert dataset_import.finished_at is not None


def test_dataset_import_run_a_second_time_changes_nothing(release: Path) -> None:
    dataset_import = dataset_import_create(
        dataset=DatasetFactory(), source_path=release, split=Split.TRAIN, queue=False
    )
    dataset_import_run(dataset_import_id=dataset_import.pk)
    dataset_import.refresh_from_db()
    finished_at = dataset_import.finished_at

    dataset_import_run(dataset_import_id=dataset_import.pk)

    dataset_import.refresh_from_db()
    assert (dataset_import.status, dataset_import.attempt) == (DatasetImport.Status.SUCCEEDED, 1)
    assert dataset_import.finished_at == finished_at
    assert _row_counts() == (3, 3 * IMAGES_PER_CASE, 3)


def test_dataset_import_run_on_a_failed_import_returns_quietly(release: Path) -> None:
    dataset_import = dataset_import_create(
        dataset=DatasetFactory(), source_path=release, split=Split.TRAIN, queue=False
    )
    DatasetImport.objects.filter(pk=dataset_import.pk).update(status=DatasetImport.Status.FAILED, error="x")

    dataset_import_run(dataset_import_id=dataset_import.pk)

    dataset_import.refresh_from_db()
    assert (dataset_import.status, dataset_import.attempt) == (DatasetImport.Status.FAILED, 0)
    assert _row_counts() == (0, 0, 0)


def test_dataset_import_run_records_a_failure_sentence_and_requeue_retries_it(
    release: Path, case_names: list[str], django_capture_on_commit_callbacks
) -> None:
    broken = release / "raw_data" / case_names[0] / "ses-01" / f"{case_names[0]}_ses-01_ncct.nii.gz"
    original = broken.read_bytes()
    broken.write_bytes(original[: len(original) // 2])
    dataset_import = dataset_import_create(
        dataset=DatasetFactory(), source_path=release, split=Split.TRAIN, queue=False
    )

    dataset_import_run(dataset_import_id=dataset_import.pk)
    dataset_import.refresh_from_db()
    assert dataset_import.status == DatasetImport.Status.FAILED
    assert f"{case_names[0]}_ses-01_ncct.nii.gz is truncated" in dataset_import.error

    broken.write_bytes(original)
    with django_capture_on_commit_callbacks(execute=True):
        dataset_import_requeue(dataset_import_id=dataset_import.pk)
    dataset_import.refresh_from_db()
    assert dataset_import.status == DatasetImport.Status.SUCCEEDED
    assert dataset_import.error == ""
    with pytest.raises(ValidationError, match="Only a failed import can be queued again"):
        dataset_import_requeue(dataset_import_id=dataset_import.pk)


@pytest.mark.integration
def test_on_postgresql_the_import_commits_and_a_corrupt_file_rolls_the_whole_run_back(
    postgresql: None, release: Path, case_names: list[str]
) -> None:
    dataset = DatasetFactory()
    isles24_import(dataset=dataset, root=release, split=Split.TRAIN)
    assert _row_counts() == (3, 3 * IMAGES_PER_CASE, 3)
    broken = f"raw_data/{case_names[1]}/ses-01/{case_names[1]}_ses-01_ctp.nii.gz"
    (release / broken).write_bytes(b"\x1f\x8b garbage")
    other = DatasetFactory()

    with pytest.raises(DatasetImportError, match=broken):
        isles24_import(dataset=other, root=release, split=Split.TEST)

    assert other.cases.count() == 0
    assert _row_counts() == (3, 3 * IMAGES_PER_CASE, 3)
