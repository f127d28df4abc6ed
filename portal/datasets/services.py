"""Rules of the datasets app: importing an ISLES'24 release folder into a dataset, and versions of its
ground truth.

An import is a ``DatasetImport`` row that moves QUEUED -> RUNNING -> SUCCEEDED or FAILED. It runs on the
``cpu`` queue (``dataset_import_task``) or synchronously from ``manage.py import_isles24``; both call
``dataset_import_run``, which claims the row under a lock, imports outside that lock and records the end.
The import itself (``isles24_import``) keeps all of a run's rows, or none.

Ground truth is versioned per dataset (``GroundTruthVersion``): the import is version 1, and
``ground_truth_version_create`` adds the next version from new masks of some cases, carrying over the
previous version's masks of the others. Versions are never changed or deleted once made.
"""

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import SimpleITK as sitk
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from evaluation.io import ImageRefused, image_read, same_spacing, size_text, spacing_text
from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Challenge, Split
from portal.datasets import selectors, tasks
from portal.datasets.exceptions import DatasetImportError, GroundTruthRefused
from portal.datasets.models import (
    Case,
    DataCard,
    Dataset,
    DatasetImport,
    DataTermsAcceptance,
    GroundTruth,
    GroundTruthVersion,
    Image,
)
from portal.errors import PortalError
from portal.steps.services import CLAIM_FIELDS, Step, step_register, step_requeue, step_run
from releases import isles24

logger = logging.getLogger(__name__)

MAX_IMPORT_ATTEMPTS = 3
GROUND_TRUTH_VERSION = 1


@dataclass(frozen=True)
class ImportReport:
    """What one import found: cases, images and masks stored, and per case the expected files it lacked."""

    cases: int
    images: int
    masks: int
    missing_files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "cases": self.cases,
            "images": self.images,
            "masks": self.masks,
            "missing_files": {case: list(paths) for case, paths in self.missing_files.items()},
        }


def _release_problem(root: Path) -> str | None:
    """Say in a sentence why ``root`` is not a release folder, or None when it looks like one."""
    if not root.is_dir():
        return f"{root} is not a folder on the server."
    if not any((root / folder).is_dir() for folder in ("raw_data", "derivatives")):
        return f"{root} holds neither raw_data/ nor derivatives/, so it is not an ISLES'24 release."
    return None


def _dataset_import_queue(*, dataset_import_id: int) -> None:
    transaction.on_commit(partial(tasks.dataset_import_task.delay, dataset_import_id=dataset_import_id))


def dataset_import_create(
    *,
    dataset: Dataset,
    source_path: str | Path,
    split: Split | str,
    requested_by: User | None = None,
    queue: bool = True,
) -> DatasetImport:
    """Record an import of the release folder ``source_path`` into ``dataset`` and queue it on commit.

    Raises ``ValidationError`` when the path is not a release folder. With ``queue=False`` nothing is
    queued: the caller runs ``dataset_import_run`` itself (the management command does).
    """
    if split not in Split.values:
        raise ValidationError(f"{split!r} is not a split: use TRAIN or TEST.", code="not_a_split")
    root = Path(source_path).resolve()
    problem = _release_problem(root)
    if problem is not None:
        raise ValidationError(problem, code="not_a_release")
    dataset_import = DatasetImport.objects.create(
        dataset=dataset, source_path=str(root), split=split, requested_by=requested_by
    )
    if queue:
        _dataset_import_queue(dataset_import_id=dataset_import.pk)
    return dataset_import


def _dataset_import_lock(*, dataset_import_id: int) -> DatasetImport | None:
    """The import row, locked for this transaction; None if it was deleted; ``RowLocked`` if busy."""
    return DATASET_IMPORT.lock(dataset_import_id, nowait=True)


class DatasetImportRun(Step[DatasetImport, ImportReport]):
    """QUEUED -> RUNNING -> SUCCEEDED with the importer's report, or FAILED with a sentence naming the file
    (``DatasetImportError``) or saying that the server's log has the details."""

    name = "dataset import"
    model = DatasetImport
    statuses = (DatasetImport.Status.QUEUED, DatasetImport.Status.RUNNING)
    max_attempts = MAX_IMPORT_ATTEMPTS
    unexpected = "An unexpected error occurred; the server's log has the details."
    afterword = ""

    def queue(self, pk: int) -> None:
        tasks.dataset_import_task.delay(dataset_import_id=pk)

    def rows(self) -> QuerySet[DatasetImport]:
        return DatasetImport.objects.select_related("dataset")

    def begin(self, row: DatasetImport) -> list[str]:
        row.status = DatasetImport.Status.RUNNING
        row.started_at = timezone.now()
        return ["status", "started_at"]

    def work(self, row: DatasetImport, scratch: Path) -> ImportReport:
        return isles24_import(dataset=row.dataset, root=Path(row.source_path), split=Split(row.split))

    def record(self, row: DatasetImport, result: ImportReport) -> None:
        _dataset_import_end(
            row,
            status=DatasetImport.Status.SUCCEEDED,
            changes={"cases_imported": result.cases, "report": result.as_json(), "error": ""},
        )

    def fail(self, row: DatasetImport, *, sentence: str, note: str) -> None:
        _dataset_import_end(row, status=DatasetImport.Status.FAILED, changes={"error": sentence})


DATASET_IMPORT = DatasetImportRun()


def dataset_import_run(*, dataset_import_id: int) -> None:
    """Claim the import, run it and record SUCCEEDED (with its report) or FAILED (with a sentence).

    Safe to call twice: a second call finds the row finished and does nothing.
    """
    step_run(DATASET_IMPORT, pk=dataset_import_id)


def _dataset_import_end(
    dataset_import: DatasetImport, *, status: DatasetImport.Status, changes: Mapping[str, object]
) -> None:
    dataset_import.status = status
    dataset_import.finished_at = timezone.now()
    for name, value in changes.items():
        setattr(dataset_import, name, value)
    dataset_import.save(update_fields=["status", "finished_at", *CLAIM_FIELDS, *changes])


def dataset_import_steps_register() -> None:
    """Let the step engine's sweeper watch dataset imports run from the queue."""
    step_register(DATASET_IMPORT)


def dataset_import_requeue(*, dataset_import_id: int) -> DatasetImport:
    """Queue a FAILED import again, with its attempts reset; ``ValidationError`` in any other status."""
    with transaction.atomic():
        dataset_import = _dataset_import_lock(dataset_import_id=dataset_import_id)
        if dataset_import is None:
            raise ValidationError("This import no longer exists.", code="not_found")
        if dataset_import.status != DatasetImport.Status.FAILED:
            status = dataset_import.get_status_display()
            raise ValidationError(
                f"Only a failed import can be queued again; this one is {status}.",
                code="not_failed",
            )
        dataset_import.status = DatasetImport.Status.QUEUED
        step_requeue(dataset_import)
        dataset_import.error = ""
        dataset_import.started_at = None
        dataset_import.finished_at = None
        dataset_import.save(update_fields=["status", "error", "started_at", "finished_at", *CLAIM_FIELDS])
        _dataset_import_queue(dataset_import_id=dataset_import.pk)
    return dataset_import


def _file_store(*, row: Image | GroundTruth, content: File, written: list[str]) -> None:
    """Point ``row.file`` at its content-addressed name, writing the bytes only if no file has it yet."""
    storage = row.file.storage
    name = row.file.field.generate_filename(row, "file.nii.gz")
    if not storage.exists(name):
        name = storage.save(name, content)
        written.append(name)
    row.file.name = name


def _image_store(*, case: Case, file: isles24.ReleaseFile, written: list[str]) -> Image:
    header = isles24.image_header_read(file)
    image = Image.objects.filter(case=case, interface=file.slot.name).first()
    if image is not None and image.sha256 == header.sha256:
        if image.release_path != file.relative_path:
            image.release_path = file.relative_path
            image.save(update_fields=["release_path"])
        return image
    image = image or Image(case=case, interface=file.slot.name)
    image.release_path = file.relative_path
    image.sha256 = header.sha256
    image.size_bytes = header.size_bytes
    image.shape = list(header.shape)
    image.spacing_mm = list(header.spacing_mm)
    image.pixel_type = header.pixel_type
    with file.path.open("rb") as handle:
        _file_store(row=image, content=File(handle), written=written)
    image.save()
    return image


def _ground_truth_store(*, case: Case, file: isles24.ReleaseFile, written: list[str]) -> GroundTruth:
    mask = isles24.mask_binarise(file)
    content = ContentFile(mask.nifti_bytes)
    sha256 = _sha256(mask.nifti_bytes)
    ground_truth = case.ground_truths.filter(version=GROUND_TRUTH_VERSION).first()
    if ground_truth is not None and ground_truth.sha256 == sha256:
        if ground_truth.release_path != file.relative_path:
            ground_truth.release_path = file.relative_path
            ground_truth.save(update_fields=["release_path"])
        return ground_truth
    ground_truth = ground_truth or GroundTruth(case=case, version=GROUND_TRUTH_VERSION)
    ground_truth.release_path = file.relative_path
    ground_truth.sha256 = sha256
    ground_truth.shape = list(mask.shape)
    ground_truth.spacing_mm = list(mask.spacing_mm)
    ground_truth.lesion_volume_ml = mask.lesion_volume_ml
    ground_truth.source_encoding = mask.source_encoding
    _file_store(row=ground_truth, content=content, written=written)
    ground_truth.save()
    return ground_truth


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _case_import(*, dataset: Dataset, case_files: isles24.CaseFiles, split: Split, written: list[str]) -> int:
    """Store one case, its images (dropping those no longer in the release) and its mask; return images."""
    admission_data, outcome_data = (
        {file.slot.name: isles24.clinical_table_read(file) for file in case_files.of_kind(kind)}
        for kind in (isles24.SlotKind.ADMISSION_TABLE, isles24.SlotKind.OUTCOME_TABLE)
    )
    case, _ = Case.objects.update_or_create(
        dataset=dataset,
        name=case_files.name,
        defaults={
            "split": split,
            "admission_data": admission_data,
            "outcome_data": outcome_data,
            "missing_files": list(case_files.missing),
        },
    )
    images = case_files.of_kind(isles24.SlotKind.IMAGE)
    for file in images:
        _image_store(case=case, file=file, written=written)
    case.images.exclude(interface__in=[file.slot.name for file in images]).delete()
    for file in case_files.of_kind(isles24.SlotKind.MASK):
        _ground_truth_store(case=case, file=file, written=written)
    return len(images)


def _files_delete(names: list[str]) -> None:
    storage = Image.file.field.storage
    for name in names:
        storage.delete(name)


def isles24_import(*, dataset: Dataset, root: Path, split: Split) -> ImportReport:
    """Import every case of the ISLES'24 release folder ``root`` into ``dataset`` as ``split``, atomically.

    Re-importing a release is idempotent: cases are matched by name, images by interface and the ground
    truth by version, so the same files leave the same rows and a changed file replaces its row's file.
    Cases of the dataset that the release lacks are kept (a release may come in parts).

    One transaction holds the whole run, with the dataset row locked so imports of one dataset follow
    each other. An unreadable file raises ``DatasetImportError`` naming it, and nothing of the run
    stays: the transaction rolls back and the files this run wrote (content-addressed names that no row
    referred to before) are deleted. Files a re-import replaced stay on disk, unreferenced.
    """
    problem = _release_problem(root)
    if problem is not None:
        raise DatasetImportError(problem)
    written: list[str] = []
    try:
        report = _release_import(
            dataset=dataset, cases=isles24.release_scan(root), split=split, written=written
        )
    except BaseException:
        _files_delete(written)
        raise
    return report


def _release_import(
    *, dataset: Dataset, cases: list[isles24.CaseFiles], split: Split, written: list[str]
) -> ImportReport:
    images = 0
    with transaction.atomic():
        # Imports of one dataset wait for each other, so two runs never write the same case at once.
        Dataset.objects.select_for_update().get(pk=dataset.pk)
        for case_files in cases:
            try:
                images += _case_import(dataset=dataset, case_files=case_files, split=split, written=written)
            except isles24.ReleaseFileError as error:
                raise DatasetImportError(f"The import stopped, nothing was kept: {error}") from error
        _ground_truth_versions_record(dataset=dataset)
    return ImportReport(
        cases=len(cases),
        images=images,
        masks=sum(len(case_files.of_kind(isles24.SlotKind.MASK)) for case_files in cases),
        missing_files={case_files.name: case_files.missing for case_files in cases if case_files.missing},
    )


def _ground_truth_versions_record(*, dataset: Dataset) -> None:
    """Record a version for each number the dataset's ground truth uses that has none (1: the import)."""
    used = GroundTruth.objects.filter(case__dataset=dataset).values_list("version", flat=True).distinct()
    recorded = set(dataset.ground_truth_versions.values_list("number", flat=True))
    GroundTruthVersion.objects.bulk_create(
        [
            GroundTruthVersion(
                dataset=dataset,
                number=number,
                source=GroundTruthVersion.Source.IMPORT
                if number == GROUND_TRUTH_VERSION
                else GroundTruthVersion.Source.UPLOAD,
            )
            for number in sorted(set(used) - recorded)
        ]
    )


def ground_truth_version_create(
    *,
    dataset: Dataset,
    masks: Mapping[str, Path],
    note: str,
    source: GroundTruthVersion.Source | str,
    created_by: User | None,
) -> GroundTruthVersion:
    """Make the dataset's next ground-truth version from new masks of some cases (by case name).

    Every given mask is checked as the import checks a mask: a readable 3D image on the grid (size and
    spacing) of the case's reference image, binarised with ``> 0`` and stored as uint8. Cases not given
    keep the previous version's mask (the same stored file). Raises ``GroundTruthRefused`` with one
    sentence per problem, and stores nothing, when any mask has a problem.

    The dataset row is locked while the number is taken, so two versions made at once get two numbers;
    numbers are never reused and earlier versions are kept unchanged, with their files.
    """
    if source not in GroundTruthVersion.Source.values:
        raise GroundTruthRefused(f"{source!r} is not a ground-truth source.", code="not_a_source")
    if not masks:
        raise GroundTruthRefused(
            "No masks were given; a new version needs at least one case's new mask.", code="no_masks"
        )
    cases = {case.name: case for case in selectors.case_list_with_images(cases=dataset.cases.all())}
    checked = _masks_check(masks=masks, cases=cases)
    written: list[str] = []
    try:
        with transaction.atomic():
            return _ground_truth_version_store(
                dataset=dataset,
                masks=checked,
                version=GroundTruthVersion(dataset=dataset, note=note, source=source, created_by=created_by),
                written=written,
            )
    except BaseException:
        _files_delete(written)
        raise


def _masks_check(*, masks: Mapping[str, Path], cases: Mapping[str, Case]) -> dict[Case, isles24.BinaryMask]:
    """Read, check and binarise every mask; ``GroundTruthRefused`` listing every problem found."""
    problems: list[str] = []
    checked: dict[Case, isles24.BinaryMask] = {}
    for case_name, path in sorted(masks.items()):
        case = cases.get(case_name)
        if case is None:
            problems.append(f"{path.name} names case {case_name}, which is not in this dataset.")
            continue
        try:
            image = image_read(path)  # self-contained files only, the format from the content
        except ImageRefused:
            problems.append(f"{path.name} (case {case_name}) is not a readable image.")
            continue
        problem = _grid_problem(image=image, case=case, name=path.name)
        if problem is not None:
            problems.append(problem)
            continue
        checked[case] = isles24.mask_image_binarise(image)
    if problems:
        raise GroundTruthRefused(problems, code="masks_refused")
    return checked


def _grid_problem(*, image: sitk.Image, case: Case, name: str) -> str | None:
    """Say in a sentence why the mask is not on the grid of the case's reference image, or None."""
    if image.GetDimension() != 3:
        return f"{name} (case {case.name}) has {image.GetDimension()} dimensions; a lesion mask has 3."
    reference = selectors.case_reference_image(case=case)
    if reference is None:
        return None
    size = tuple(int(n) for n in image.GetSize())
    expected: Sequence[int] = tuple(reference.shape[:3])
    if size != expected:
        return (
            f"{name} is {size_text(size)} voxels but case {case.name}'s {reference.interface} is "
            f"{size_text(expected)}."
        )
    spacing = tuple(float(s) for s in image.GetSpacing())
    expected_spacing = tuple(float(s) for s in reference.spacing_mm[:3])
    if not same_spacing(spacing, expected_spacing):
        return (
            f"{name} has a voxel spacing of {spacing_text(spacing)} mm but case {case.name}'s "
            f"{reference.interface} has {spacing_text(expected_spacing)} mm."
        )
    return None


def _ground_truth_version_store(
    *,
    dataset: Dataset,
    masks: Mapping[Case, isles24.BinaryMask],
    version: GroundTruthVersion,
    written: list[str],
) -> GroundTruthVersion:
    """Number and save the version, store its new masks and carry over the previous version's others."""
    # The dataset's lock makes the next number and the carried-over masks one consistent read.
    Dataset.objects.select_for_update().get(pk=dataset.pk)
    _ground_truth_versions_record(dataset=dataset)
    previous = dataset.ground_truth_versions.aggregate(number=Max("number"))["number"] or 0
    version.number = previous + 1
    version.save()
    release_paths = dict(
        GroundTruth.objects.filter(case__dataset=dataset, version=previous).values_list(
            "case_id", "release_path"
        )
    )
    for case, mask in masks.items():
        ground_truth = GroundTruth(
            case=case,
            version=version.number,
            release_path=release_paths.get(case.pk, ""),
            sha256=_sha256(mask.nifti_bytes),
            shape=list(mask.shape),
            spacing_mm=list(mask.spacing_mm),
            lesion_volume_ml=mask.lesion_volume_ml,
            source_encoding=mask.source_encoding,
        )
        _file_store(row=ground_truth, content=ContentFile(mask.nifti_bytes), written=written)
        ground_truth.save()
    carried = GroundTruth.objects.filter(case__dataset=dataset, version=previous).exclude(
        case__in=list(masks)
    )
    GroundTruth.objects.bulk_create(
        [
            GroundTruth(
                case_id=kept.case_id,
                version=version.number,
                file=kept.file.name,
                sha256=kept.sha256,
                shape=kept.shape,
                spacing_mm=kept.spacing_mm,
                lesion_volume_ml=kept.lesion_volume_ml,
                source_encoding=kept.source_encoding,
                release_path=kept.release_path,
            )
            for kept in carried
        ]
    )
    return version


def data_terms_accept(*, user: User, challenge: Challenge, consents_to_reruns: bool) -> DataTermsAcceptance:
    """Record that the participant accepts the current version of the challenge's data-use terms, now, and
    whether they consent that their team's algorithm may be run again by the organizers on validation data.

    Accepting a version again changes nothing (the first acceptance and its time stay). Raises
    ``PortalError`` (code ``no_terms``) when the organizers wrote no terms, and (code ``not_participant``)
    for anyone who has not joined the challenge as a participant.
    """
    card = DataCard.objects.filter(challenge=challenge).first()
    if card is None:
        raise PortalError("This challenge's organizers have written no data-use terms yet.", code="no_terms")
    if not ChallengeRole.objects.filter(
        user=user, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT
    ).exists():
        raise PortalError("Join the challenge before you accept its data-use terms.", code="not_participant")
    acceptance, _ = DataTermsAcceptance.objects.get_or_create(
        card=card,
        user=user,
        terms_version=card.terms_version,
        defaults={"consents_to_reruns": consents_to_reruns},
    )
    return acceptance
