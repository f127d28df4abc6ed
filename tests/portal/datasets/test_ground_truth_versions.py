"""Versions of a dataset's ground truth: numbering, carried-over masks, and masks refused with a sentence."""

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from evaluation.io import read_mask
from portal.challenges.models import Split
from portal.datasets.exceptions import GroundTruthRefused
from portal.datasets.models import Case, Dataset, GroundTruth, GroundTruthVersion
from portal.datasets.selectors import case_ground_truth_get, dataset_ground_truth_version_list
from portal.datasets.services import ground_truth_version_create, isles24_import
from portal.storage import private_storage
from tests.hostile_masks import ELSEWHERE, metaimage_header
from tests.portal.accounts.factories import UserFactory
from tests.portal.datasets.factories import CaseFactory, DatasetFactory, ImageFactory

SHAPE = (6, 5, 4)  # x, y, z
SPACING_MM = (0.5, 0.5, 2.0)
Source = GroundTruthVersion.Source


def write_mask(
    path: Path,
    *,
    corner: tuple[int, int, int] = (0, 0, 0),
    value: int = 1,
    shape: tuple[int, ...] = SHAPE,
    spacing_mm: tuple[float, ...] = SPACING_MM,
) -> Path:
    """A uint16 mask with a 2x2x2 lesion of ``value`` at ``corner`` (z, y, x)."""
    voxels = np.zeros(tuple(reversed(shape)), dtype=np.uint16)
    z, y, x = corner
    voxels[z : z + 2, y : y + 2, x : x + 2] = value
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing(spacing_mm)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


@pytest.fixture
def dataset(db: None, tmp_path: Path) -> Dataset:
    """Two cases imported as version 1 (made here through the service, as a release import would)."""
    dataset = DatasetFactory()
    for name in ("sub-stroke0001", "sub-stroke0002"):
        case = CaseFactory(dataset=dataset, name=name, split=Split.TEST)
        ImageFactory(case=case, shape=list(SHAPE), spacing_mm=list(SPACING_MM))
    masks = {
        name: write_mask(tmp_path / f"{name}-v1.nii.gz") for name in ("sub-stroke0001", "sub-stroke0002")
    }
    ground_truth_version_create(
        dataset=dataset, masks=masks, note="import", source=Source.IMPORT, created_by=None
    )
    return dataset


def _case(dataset: Dataset, name: str) -> Case:
    return dataset.cases.get(name=name)


def _lesion_corner(ground_truth: GroundTruth, tmp_path: Path) -> tuple[int, ...]:
    path = tmp_path / f"stored-{ground_truth.pk}.nii.gz"
    with ground_truth.file.open("rb") as stored:
        path.write_bytes(stored.read())
    return tuple(int(axis.min()) for axis in np.nonzero(read_mask(path).array))


def test_a_new_version_takes_the_next_number_and_stores_the_given_mask_binarised(
    dataset: Dataset, tmp_path: Path
) -> None:
    organizer = UserFactory()
    moved = write_mask(tmp_path / "moved.nii.gz", corner=(2, 3, 4), value=65535)

    version = ground_truth_version_create(
        dataset=dataset,
        masks={"sub-stroke0001": moved},
        note="Neuroradiologist's correction",
        source=Source.ANNOTATOR,
        created_by=organizer,
    )

    assert (version.number, version.source, version.created_by) == (2, Source.ANNOTATOR, organizer)
    corrected = case_ground_truth_get(case=_case(dataset, "sub-stroke0001"), version=2)
    assert corrected is not None
    assert _lesion_corner(corrected, tmp_path) == (2, 3, 4)
    assert corrected.source_encoding == "uint16 {0, 65535}"
    assert corrected.lesion_volume_ml == pytest.approx(8 * 0.5 * 0.5 * 2.0 / 1000)


def test_a_new_version_carries_over_the_previous_mask_of_cases_not_given_and_keeps_the_old_version(
    dataset: Dataset, tmp_path: Path
) -> None:
    moved = write_mask(tmp_path / "moved.nii.gz", corner=(2, 3, 4))

    ground_truth_version_create(
        dataset=dataset, masks={"sub-stroke0001": moved}, note="", source=Source.UPLOAD, created_by=None
    )

    untouched = _case(dataset, "sub-stroke0002")
    carried, before = (
        case_ground_truth_get(case=untouched, version=2),
        case_ground_truth_get(case=untouched, version=1),
    )
    assert carried is not None
    assert before is not None
    assert (carried.sha256, carried.file.name) == (before.sha256, before.file.name)
    old = case_ground_truth_get(case=_case(dataset, "sub-stroke0001"), version=1)
    assert old is not None
    assert _lesion_corner(old, tmp_path) == (0, 0, 0)
    assert private_storage().exists(old.file.name)


def test_version_numbers_count_up_and_are_listed_oldest_first(dataset: Dataset, tmp_path: Path) -> None:
    for number in (2, 3):
        mask = write_mask(tmp_path / f"v{number}.nii.gz", corner=(number - 1, 0, 0))
        ground_truth_version_create(
            dataset=dataset,
            masks={"sub-stroke0002": mask},
            note=f"v{number}",
            source=Source.UPLOAD,
            created_by=None,
        )

    versions = list(dataset_ground_truth_version_list(dataset=dataset))

    assert [(version.number, version.note) for version in versions] == [(1, "import"), (2, "v2"), (3, "v3")]
    newest = case_ground_truth_get(case=_case(dataset, "sub-stroke0002"), version=None)
    assert newest is not None
    assert newest.version == 3
    assert GroundTruth.objects.filter(case__dataset=dataset).count() == 6


def test_masks_with_problems_are_refused_one_sentence_each_and_nothing_is_stored(
    dataset: Dataset, tmp_path: Path
) -> None:
    CaseFactory(dataset=dataset, name="sub-stroke0003", split=Split.TEST)
    unreadable = tmp_path / "notes.nii.gz"
    unreadable.write_bytes(b"not an image")
    masks = {
        "sub-stroke0001": write_mask(tmp_path / "small.nii.gz", shape=(6, 5, 3)),
        "sub-stroke0002": write_mask(tmp_path / "coarse.nii.gz", spacing_mm=(1.0, 1.0, 2.0)),
        "sub-stroke0003": unreadable,
        "sub-stroke0009": write_mask(tmp_path / "stranger.nii.gz"),
    }

    with pytest.raises(GroundTruthRefused) as refused:
        ground_truth_version_create(
            dataset=dataset, masks=masks, note="", source=Source.UPLOAD, created_by=None
        )

    assert refused.value.messages == [
        "small.nii.gz is 6x5x3 voxels but case sub-stroke0001's non-contrast-ct is 6x5x4.",
        "coarse.nii.gz has a voxel spacing of 1 x 1 x 2 mm but case sub-stroke0002's non-contrast-ct has "
        "0.5 x 0.5 x 2 mm.",
        "notes.nii.gz (case sub-stroke0003) is not a readable image.",
        "stranger.nii.gz names case sub-stroke0009, which is not in this dataset.",
    ]
    assert list(dataset.ground_truth_versions.values_list("number", flat=True)) == [1]
    assert GroundTruth.objects.filter(case__dataset=dataset).count() == 2


@pytest.mark.parametrize("data_file_lines", ELSEWHERE)
def test_a_metaimage_whose_voxels_are_in_another_file_is_refused_not_read(
    dataset: Dataset, tmp_path: Path, data_file_lines: str
) -> None:
    secret = write_mask(tmp_path / "sub-stroke0002-v1.nii")
    mask = tmp_path / "masks" / "sub-stroke0001.mha"
    mask.parent.mkdir()
    mask.write_bytes(metaimage_header(data_file_lines, secret=str(secret)))

    with pytest.raises(GroundTruthRefused) as refused:
        ground_truth_version_create(
            dataset=dataset, masks={"sub-stroke0001": mask}, note="", source=Source.UPLOAD, created_by=None
        )

    assert refused.value.messages == ["sub-stroke0001.mha (case sub-stroke0001) is not a readable image."]
    assert list(dataset.ground_truth_versions.values_list("number", flat=True)) == [1]


def test_a_version_without_any_mask_is_refused(dataset: Dataset) -> None:
    with pytest.raises(GroundTruthRefused, match="No masks were given"):
        ground_truth_version_create(dataset=dataset, masks={}, note="", source=Source.UPLOAD, created_by=None)


def test_an_import_records_version_1_and_a_later_version_follows_it(
    db: None, release: Path, case_names: list[str], tmp_path: Path
) -> None:
    dataset = DatasetFactory()
    isles24_import(dataset=dataset, root=release, split=Split.TRAIN)
    imported = case_ground_truth_get(case=_case(dataset, case_names[0]), version=1)
    assert imported is not None
    mask = write_mask(
        tmp_path / "fix.nii.gz", shape=tuple(imported.shape), spacing_mm=tuple(imported.spacing_mm)
    )

    version = ground_truth_version_create(
        dataset=dataset, masks={case_names[0]: mask}, note="", source=Source.CONSENSUS, created_by=None
    )

    assert [(v.number, v.source) for v in dataset_ground_truth_version_list(dataset=dataset)] == [
        (1, Source.IMPORT),
        (2, Source.CONSENSUS),
    ]
    assert version.number == 2
    assert GroundTruth.objects.filter(case__dataset=dataset, version=2).count() == len(case_names)
