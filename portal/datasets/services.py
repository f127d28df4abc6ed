"""Rules of the datasets app: importing an ISLES'24 release folder into a dataset, and versions of its
ground truth.

An import is a ``DatasetImport`` row that moves QUEUED -> RUNNING -> SUCCEEDED or FAILED. It runs on the
``cpu`` queue (``dataset_import_task``) or synchronously from ``manage.py import_isles24``; both call
``dataset_import_run``, which claims the row under a lock, imports outside that lock and records the end.
The import itself (``isles24_import``) keeps all of a run's rows, or none.

An import reads a release folder named under the import root the site admin configured
(``settings.ISLES_IMPORT_ROOT``, see ``import_folder_resolve``), or a release archive an organizer uploaded
in chunks (``release_upload_start``), which the step unpacks with ``evaluation.archives``' checks. While it
runs, the step records its progress (``progress_*``) from a thread of its own, since the import's one
transaction hides its own writes until it ends.

Ground truth is versioned per dataset (``GroundTruthVersion``): the import is version 1, and
``ground_truth_version_create`` adds the next version from new masks of some cases, carrying over the
previous version's masks of the others. Versions are never changed or deleted once made.
"""

import datetime
import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePath
from typing import IO

import SimpleITK as sitk
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.core.validators import validate_slug
from django.db import DatabaseError, connections, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from evaluation.archives import ArchiveLimits, ArchiveRejected, archive_extract_masks, archive_extract_tree
from evaluation.io import ImageRefused, image_read, same_spacing, size_text, spacing_text
from portal.accounts.models import ChallengeRole, User
from portal.accounts.selectors import user_is_organizer
from portal.challenges.models import Challenge, Split
from portal.datasets import selectors, tasks
from portal.datasets.exceptions import (
    DatasetImportError,
    DatasetImportRefused,
    GroundTruthRefused,
    NotAnOrganizer,
)
from portal.datasets.models import (
    Case,
    CaseAttributeTable,
    DataCard,
    Dataset,
    DatasetImport,
    DataTermsAcceptance,
    GroundTruth,
    GroundTruthVersion,
    Image,
    ReleaseUpload,
)
from portal.errors import PortalError
from portal.steps.services import CLAIM_FIELDS, Step, step_register, step_requeue, step_run
from portal.storage import private_storage
from portal.uploads.services import (
    chunked_upload_append,
    chunked_upload_files_delete,
    chunked_upload_local_path,
    chunked_upload_name,
)
from releases import isles24, tables

logger = logging.getLogger(__name__)

MAX_IMPORT_ATTEMPTS = 3
GROUND_TRUTH_VERSION = 1
RELEASE_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
# A release holds thousands of files (ISLES'24: about ten per case) and up to hundreds of GB of images,
# stored compressed (.nii.gz), so an archive of it hardly compresses: a high ratio is a bomb.
RELEASE_ARCHIVE_LIMITS = ArchiveLimits(max_members=100_000, max_total_bytes=500 * 1024**3, max_ratio=1000)
RELEASE_UPLOAD_MAX_BYTES = 500 * 1024**3
RELEASE_UPLOAD_EXPIRY = datetime.timedelta(hours=24)
MASK_ARCHIVE_LIMITS = ArchiveLimits(max_members=10_000, max_total_bytes=64 * 1024**3, max_ratio=1000)
PROGRESS_SECONDS = 1.0
"""How often a running import writes its progress."""


@dataclass(frozen=True)
class ImportReport:
    """What one import found: cases, images and masks stored, and per case the expected files it lacked."""

    cases: int
    images: int
    masks: int
    missing_files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cases_without_mask: tuple[str, ...] = ()

    @property
    def problems(self) -> list[str]:
        """What the organizer should know of the imported cases, one sentence each."""
        return [
            f"Case {case} has no lesion mask: a phase cannot score it until a ground-truth version gives "
            "it one."
            for case in self.cases_without_mask
        ]

    def as_json(self) -> dict[str, object]:
        return {
            "cases": self.cases,
            "images": self.images,
            "masks": self.masks,
            "missing_files": {case: list(paths) for case, paths in self.missing_files.items()},
            "problems": list(self.problems),
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


def import_folder_resolve(*, folder: str | Path) -> Path:
    """The release folder ``folder`` names under the import root (``settings.ISLES_IMPORT_ROOT``): a path
    relative to the root, or an absolute one inside it.

    Refused with a sentence (``DatasetImportRefused``) when the name holds ``..``, when it leads (links
    followed) outside the root, or when a link inside the folder points outside the root, so an organizer
    reads nothing on the server but what the site admin put under the root.
    """
    root = Path(settings.ISLES_IMPORT_ROOT).resolve()
    text = str(folder).strip()
    if not text:
        raise DatasetImportRefused(f"Name a release folder under the import root {root}.", code="no_folder")
    if ".." in PurePath(text).parts:
        raise DatasetImportRefused(
            f"{text} holds '..'; name the release folder by its path under the import root {root}.",
            code="outside_import_root",
        )
    path = (root / text).resolve()
    if not path.is_relative_to(root):
        raise DatasetImportRefused(
            f"{text} is outside the import root {root} that the site admin configured; ask them to put the "
            "release under it, or upload the release as an archive.",
            code="outside_import_root",
        )
    link = _link_out_of(folder=path, root=root)
    if link is not None:
        raise DatasetImportRefused(
            f"{link.relative_to(root)} is a link to {link.resolve()}, outside the import root {root}; put "
            "the files themselves under the root.",
            code="outside_import_root",
        )
    return path


def _link_out_of(*, folder: Path, root: Path) -> Path | None:
    """The first link under ``folder`` (not followed) whose target lies outside ``root``, or None."""
    for parent, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            path = Path(parent) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                return path
    return None


def dataset_import_create(
    *,
    dataset: Dataset,
    split: Split | str,
    source_path: str | Path | None = None,
    upload: ReleaseUpload | None = None,
    requested_by: User | None = None,
    queue: bool = True,
    outside_import_root: bool = False,
) -> DatasetImport:
    """Record an import into ``dataset`` of the release folder ``source_path`` or of the uploaded release
    archive ``upload``, and queue it on commit.

    The folder must lie under the import root (``import_folder_resolve``); only the management command's
    operator, who reads the server's files anyway, may pass ``outside_import_root``. The archive must be
    whole, uploaded to the dataset's challenge and not imported already. An import someone asks for is
    theirs only if they organize the challenge (``NotAnOrganizer`` otherwise). Raises ``ValidationError``
    when the path is not a release folder. With ``queue=False`` nothing is queued: the caller runs
    ``dataset_import_run`` itself (the management command does).
    """
    if split not in Split.values:
        raise ValidationError(f"{split!r} is not a split: use TRAIN or TEST.", code="not_a_split")
    if requested_by is not None and not user_is_organizer(user=requested_by, challenge=dataset.challenge_id):
        raise NotAnOrganizer("Only an organizer of the challenge imports its data.", code="not_organizer")
    if (source_path is None) == (upload is None):
        raise ValueError("An import reads a release folder or an uploaded archive: give one of them.")
    if upload is not None:
        _release_upload_check(upload=upload, dataset=dataset)
        source = upload.original_name
    else:
        assert source_path is not None  # one of the two is given, checked above
        root = (
            Path(source_path).resolve() if outside_import_root else import_folder_resolve(folder=source_path)
        )
        problem = _release_problem(root)
        if problem is not None:
            raise ValidationError(problem, code="not_a_release")
        source = str(root)
    dataset_import = DatasetImport.objects.create(
        dataset=dataset, source_path=source, upload=upload, split=split, requested_by=requested_by
    )
    if queue:
        _dataset_import_queue(dataset_import_id=dataset_import.pk)
    return dataset_import


def _release_upload_check(*, upload: ReleaseUpload, dataset: Dataset) -> None:
    if upload.challenge_id != dataset.challenge_id:
        raise DatasetImportRefused("This archive was uploaded to another challenge.", code="other_challenge")
    if not upload.sha256:
        raise DatasetImportRefused(
            f"The archive has not arrived whole yet ({upload.received_bytes} of {upload.total_bytes} bytes); "
            "finish its upload first.",
            code="incomplete",
        )
    if upload.imports.filter(status=DatasetImport.Status.SUCCEEDED).exists():
        raise DatasetImportRefused(
            "This archive was imported already and its file removed; upload it again to import it once more.",
            code="imported",
        )


def release_upload_start(
    *, challenge: Challenge, user: User, file_name: str, total_bytes: int
) -> ReleaseUpload:
    """Open a resumable upload (``portal.uploads``) of a release archive of ``total_bytes`` bytes, named
    ``file_name`` on the organizer's disk, to import into one of the challenge's datasets.

    Raises ``NotAnOrganizer`` for anyone who does not organize the challenge, and ``DatasetImportRefused``
    for a name that is not a .tar.gz, .tgz, .tar or .zip archive, an empty archive or one over
    ``RELEASE_UPLOAD_MAX_BYTES``, before any byte is sent.
    """
    if not user_is_organizer(user=user, challenge=challenge):
        raise NotAnOrganizer("Only an organizer of the challenge uploads its data.", code="not_organizer")
    suffix = next((s for s in RELEASE_ARCHIVE_SUFFIXES if file_name.lower().endswith(s)), None)
    if suffix is None:
        raise DatasetImportRefused(
            f"{file_name} is not a release archive: upload a .tar.gz, .tgz, .tar or .zip of the release "
            "folder.",
            code="not_an_archive",
        )
    if total_bytes <= 0:
        raise DatasetImportRefused("The archive is empty.", code="empty")
    if total_bytes > RELEASE_UPLOAD_MAX_BYTES:
        raise DatasetImportRefused(
            f"The archive is {total_bytes / 1e9:.3g} GB; the portal takes release archives of up to "
            f"{RELEASE_UPLOAD_MAX_BYTES / 1e9:.3g} GB. Ask the site admin to put the release under the "
            "import root instead.",
            code="too_big",
        )
    upload = ReleaseUpload(
        challenge=challenge, user=user, total_bytes=total_bytes, original_name=file_name[:255]
    )
    upload.file_name = chunked_upload_name(upload=upload, folder="datasets/uploads", suffix=suffix)
    upload.save()
    return upload


def release_upload_append(
    *, upload_id: uuid.UUID | str, user: User, start: int, total_bytes: int, length: int, stream: IO[bytes]
) -> ReleaseUpload:
    """Append a chunk to the user's release upload (``portal.uploads.services.chunked_upload_append``:
    ``UploadOffsetMismatch`` for a chunk that does not start where the upload stands, ``UploadRefused`` for
    one that does not fit or a whole upload). Raises ``ReleaseUpload.DoesNotExist`` for another user's
    upload, or one of a challenge the user no longer organizes."""
    with transaction.atomic():
        upload = selectors.release_upload_get_for(user=user, upload_id=upload_id, for_update=True)
        chunked_upload_append(
            upload=upload,
            storage=private_storage(),
            start=start,
            total_bytes=total_bytes,
            length=length,
            stream=stream,
        )
    return upload


def release_uploads_expire(*, now: datetime.datetime) -> int:
    """Delete the release uploads not completed within ``RELEASE_UPLOAD_EXPIRY`` of their start, with
    their stored parts, and return how many (run hourly by Celery beat).

    An organizer resumes a cut upload within a day; after that its parts (up to hundreds of GB) only fill
    the storage. A whole archive is kept for its import, which removes it once it succeeded. Each upload
    is locked first, so a chunk being appended finishes (and may complete it) before it is judged. Safe
    to run twice.
    """
    expired = ReleaseUpload.objects.filter(sha256="", created_at__lt=now - RELEASE_UPLOAD_EXPIRY)
    removed = 0
    for upload_id in expired.values_list("pk", flat=True):
        with transaction.atomic():
            upload = ReleaseUpload.objects.select_for_update().filter(pk=upload_id, sha256="").first()
            if upload is None:
                continue
            upload.delete()
        chunked_upload_files_delete(upload=upload, storage=private_storage(), whole=False)
        removed += 1
    return removed


def dataset_get_or_create(*, challenge: Challenge, slug: str, user: User) -> Dataset:
    """The challenge's dataset named ``slug``, made (titled by its slug, which the admin may retitle) when
    the challenge has none of that name, for an import an organizer starts. Raises ``NotAnOrganizer`` for
    anyone else and ``DatasetImportRefused`` for a slug that is not letters, digits, hyphens and
    underscores."""
    if not user_is_organizer(user=user, challenge=challenge):
        raise NotAnOrganizer("Only an organizer of the challenge imports its data.", code="not_organizer")
    try:
        validate_slug(slug)
    except ValidationError as error:
        raise DatasetImportRefused(
            f"{slug!r} cannot name a dataset: use letters, digits, hyphens and underscores, e.g. isles24.",
            code="bad_slug",
        ) from error
    dataset, _ = Dataset.objects.get_or_create(challenge=challenge, slug=slug, defaults={"title": slug})
    return dataset


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
        return DatasetImport.objects.select_related("dataset", "upload")

    def begin(self, row: DatasetImport) -> list[str]:
        row.status = DatasetImport.Status.RUNNING
        row.started_at = timezone.now()
        return ["status", "started_at"]

    def work(self, row: DatasetImport, scratch: Path) -> ImportReport:
        with _progress_recorded(dataset_import_id=row.pk) as progress:
            if row.upload is None:
                root = Path(row.source_path)
            else:
                root = _release_unpack(upload=row.upload, scratch=scratch, progress=progress)
            return isles24_import(dataset=row.dataset, root=root, split=Split(row.split), progress=progress)

    def record(self, row: DatasetImport, result: ImportReport) -> None:
        _dataset_import_end(
            row,
            status=DatasetImport.Status.SUCCEEDED,
            changes={
                "cases_imported": result.cases,
                "report": result.as_json(),
                "error": "",
                "progress_stage": "",
                "progress_done": result.cases,
                "progress_total": result.cases,
            },
        )
        if row.upload is not None:
            # The archive is imported: its cases are in the dataset, and it may be hundreds of GB.
            transaction.on_commit(
                partial(chunked_upload_files_delete, upload=row.upload, storage=private_storage(), whole=True)
            )

    def fail(self, row: DatasetImport, *, sentence: str, note: str) -> None:
        _dataset_import_end(row, status=DatasetImport.Status.FAILED, changes={"error": sentence})


DATASET_IMPORT = DatasetImportRun()

ImportProgress = Callable[[str, int, int], None]
"""Told what an import is doing (a sentence), how far it is and of how many (files or cases)."""


@contextmanager
def _progress_recorded(*, dataset_import_id: int) -> Iterator[ImportProgress]:
    """A callback that keeps the import's latest progress, which a thread writes to its row every
    ``PROGRESS_SECONDS`` and once more at the end.

    The thread has its own database connection: the import runs in one transaction, whose writes nobody
    sees before it ends. It never waits for a lock (the row's step engine may hold it a moment).
    """
    latest: dict[str, object] = {}
    guard = threading.Lock()
    stop = threading.Event()

    def tell(stage: str, done: int, total: int) -> None:
        with guard:
            latest.update(progress_stage=stage[:200], progress_done=done, progress_total=total)

    def write() -> None:
        try:
            while True:
                stopped = stop.wait(PROGRESS_SECONDS)
                with guard:
                    changes = dict(latest)
                    latest.clear()
                if changes:
                    _progress_write(dataset_import_id=dataset_import_id, changes=changes)
                if stopped:
                    return
        finally:
            connections.close_all()

    thread = threading.Thread(
        target=write, name=f"progress of dataset import {dataset_import_id}", daemon=True
    )
    thread.start()
    try:
        yield tell
    finally:
        stop.set()
        thread.join()


def _progress_write(*, dataset_import_id: int, changes: Mapping[str, object]) -> None:
    try:
        with transaction.atomic():
            free = DatasetImport.objects.select_for_update(skip_locked=True).filter(
                pk=dataset_import_id, status=DatasetImport.Status.RUNNING
            )
            DatasetImport.objects.filter(pk__in=list(free.values_list("pk", flat=True))).update(**changes)
    except DatabaseError:
        logger.warning("The progress of dataset import %s was not written.", dataset_import_id, exc_info=True)


def _release_unpack(*, upload: ReleaseUpload, scratch: Path, progress: ImportProgress) -> Path:
    """Unpack the uploaded archive into ``scratch`` with ``evaluation.archives``' checks; return the release
    folder in it (the archive's top, or its one folder). ``DatasetImportError`` with the archive's problems
    when it is refused, or when it holds no release."""
    archive = chunked_upload_local_path(upload=upload, storage=private_storage(), folder=scratch)
    folder = scratch / "release"
    try:
        archive_extract_tree(
            archive,
            folder,
            limits=RELEASE_ARCHIVE_LIMITS,
            progress=lambda done, total: progress("Unpacking the archive", done, total),
        )
    except ArchiveRejected as rejected:
        raise DatasetImportError(
            f"The archive was refused and nothing was imported: {rejected}"
        ) from rejected
    tops = [folder, *(path for path in sorted(folder.iterdir()) if path.is_dir())]
    for top in tops:
        if _release_problem(top) is None:
            return top
    raise DatasetImportError(
        f"{upload.original_name} holds no raw_data/ or derivatives/ folder (at its top or in a folder "
        "there), so it is not an ISLES'24 release; nothing was imported."
    )


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


def isles24_import(
    *, dataset: Dataset, root: Path, split: Split, progress: ImportProgress | None = None
) -> ImportReport:
    """Import every case of the ISLES'24 release folder ``root`` into ``dataset`` as ``split``, atomically.

    Re-importing a release is idempotent: cases are matched by name, images by interface and the ground
    truth by version, so the same files leave the same rows and a changed file replaces its row's file.
    Cases of the dataset that the release lacks are kept (a release may come in parts).

    One transaction holds the whole run, with the dataset row locked so imports of one dataset follow
    each other. An unreadable file raises ``DatasetImportError`` naming it, and nothing of the run
    stays: the transaction rolls back and the files this run wrote (content-addressed names that no row
    referred to before) are deleted. Files a re-import replaced stay on disk, unreferenced. ``progress``
    is told each case as it is imported.
    """
    problem = _release_problem(root)
    if problem is not None:
        raise DatasetImportError(problem)
    written: list[str] = []
    try:
        report = _release_import(
            dataset=dataset, cases=isles24.release_scan(root), split=split, written=written, progress=progress
        )
    except BaseException:
        _files_delete(written)
        raise
    return report


def _release_import(
    *,
    dataset: Dataset,
    cases: list[isles24.CaseFiles],
    split: Split,
    written: list[str],
    progress: ImportProgress | None,
) -> ImportReport:
    images = 0
    with transaction.atomic():
        # Imports of one dataset wait for each other, so two runs never write the same case at once.
        Dataset.objects.select_for_update().get(pk=dataset.pk)
        for done, case_files in enumerate(cases):
            if progress is not None:
                progress(f"Importing case {case_files.name}", done, len(cases))
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
        cases_without_mask=tuple(
            case_files.name for case_files in cases if not case_files.of_kind(isles24.SlotKind.MASK)
        ),
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


def ground_truth_version_create_from_archive(
    *, dataset: Dataset, archive: Path, folder: Path, note: str, created_by: User
) -> GroundTruthVersion:
    """Make the dataset's next ground-truth version from an archive of masks an organizer uploaded: one
    mask per case, named by the case (``sub-stroke0001.nii.gz``, or ``sub-stroke0001_<anything>`` with
    .nii.gz, .nii or .mha), unpacked into ``folder`` with ``evaluation.archives``' checks, then checked and
    stored by ``ground_truth_version_create`` (source UPLOAD).

    Raises ``NotAnOrganizer`` for anyone who does not organize the challenge, and ``GroundTruthRefused``
    with one sentence per problem (an unsafe or damaged archive, a file that is not a mask, two masks of
    one case, a mask off its case's grid); nothing is stored then.
    """
    if not user_is_organizer(user=created_by, challenge=dataset.challenge_id):
        raise NotAnOrganizer(
            "Only an organizer of the challenge changes its ground truth.", code="not_organizer"
        )
    try:
        extracted = archive_extract_masks(archive, folder, limits=MASK_ARCHIVE_LIMITS)
    except ArchiveRejected as rejected:
        raise GroundTruthRefused(rejected.problems, code="archive_refused") from rejected
    if extracted.problems:
        raise GroundTruthRefused(extracted.problems, code="archive_refused")
    return ground_truth_version_create(
        dataset=dataset,
        masks=extracted.files,
        note=note,
        source=GroundTruthVersion.Source.UPLOAD,
        created_by=created_by,
    )


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


def data_card_set(*, challenge: Challenge, licence: str, citation: str, terms: str) -> DataCard | None:
    """Write the challenge's data card as its organizers edit it: its licence, citation and data-use
    terms. Changed terms are a new ``terms_version``, which every participant accepts again before their
    next download; a licence or citation change alone keeps the version.

    A card is kept once written (acceptances refer to it): empty terms and licence on a challenge without
    a card write none and return None, and on one with a card are refused. Raises ``ValidationError``
    mapping ``licence`` or ``terms`` to its sentence.
    """
    card = DataCard.objects.filter(challenge=challenge).first()
    if card is None and not (licence.strip() or citation.strip() or terms.strip()):
        return None
    problems: dict[str, PortalError] = {}
    if not terms.strip():
        problems["terms"] = PortalError(
            "Write the data-use terms participants accept before their first download"
            + (": a challenge's terms, once written, cannot be removed." if card else "."),
            code="no_terms",
        )
    if not licence.strip():
        problems["licence"] = PortalError(
            "Name the data's licence (e.g. CC BY-NC 4.0): participants use the data under it.",
            code="no_licence",
        )
    if problems:
        raise ValidationError(problems)
    if card is None:
        return DataCard.objects.create(challenge=challenge, licence=licence, citation=citation, terms=terms)
    if terms != card.terms:
        card.terms_version += 1
    card.licence, card.citation, card.terms = licence, citation, terms
    card.save()
    return card


ATTRIBUTE_TABLE_MAX_BYTES = 5 * 1024**2
"""An attribute table holds a row of a few short texts per case: thousands of cases fit in far less."""
ATTRIBUTE_TABLE_MAX_ROWS = 100_000
ATTRIBUTE_TABLE_MAX_COLUMNS = 200
"""Bounds on what is read of a table whatever its file claims (see ``releases.tables``): far above any
dataset's cases and attributes."""
CASE_COLUMN = "case"


@dataclass(frozen=True)
class _AttributeRow:
    number: int
    """The row's number in the file, the header being row 1."""
    cells: list[str]


def case_attribute_table_upload(
    *, dataset: Dataset, content: File, original_name: str, uploaded_by: User | None
) -> CaseAttributeTable:
    """Store an organizer's table of case attributes (CSV or XLSX), then apply it whole or refuse it whole.

    The file is stored, and its ``CaseAttributeTable`` row saved as RECEIVED (committed, when the caller
    holds no transaction), before it is read, so an upload is kept whatever happens next. A table is
    refused (REFUSED, with one sentence per problem in ``problems``) when it is empty, unreadable, has no
    ``case`` column or no other, or names a case the dataset lacks, a case twice, or no case on a row;
    then no case changes. Otherwise, in one transaction under the dataset's lock, every case of the
    dataset gets the table's attributes (a case the table does not name gets none: the last applied table
    is the whole truth) and the row becomes APPLIED.
    """
    table = CaseAttributeTable(dataset=dataset, original_name=original_name[:255], uploaded_by=uploaded_by)
    data = content.read(ATTRIBUTE_TABLE_MAX_BYTES + 1)
    table.file.save(
        f"{hashlib.sha256(data).hexdigest()}{PurePath(original_name).suffix[:8]}", ContentFile(data)
    )
    header, rows, problems = _attribute_table_read(data)
    with transaction.atomic():
        # The dataset's lock holds its cases still between the check of the names and the update.
        Dataset.objects.select_for_update().get(pk=dataset.pk)
        table = CaseAttributeTable.objects.select_for_update().get(pk=table.pk)
        cases = dict(Case.objects.filter(dataset=dataset).values_list("name", "pk"))
        if not problems:
            problems = _attribute_problems(header=header, rows=rows, cases=cases, dataset=dataset)
        if problems:
            table.status, table.problems = CaseAttributeTable.Status.REFUSED, problems
            table.save(update_fields=["status", "problems"])
            return table
        _attributes_apply(header=header, rows=rows, cases=cases)
        table.status = CaseAttributeTable.Status.APPLIED
        table.columns = header[1:]
        table.cases_named = len(rows)
        table.save(update_fields=["status", "columns", "cases_named"])
    return table


def _attribute_table_read(data: bytes) -> tuple[list[str], list[_AttributeRow], list[str]]:
    """The table's header (the case column first) and non-blank rows as texts, or the sentence why not."""
    if not data.strip():
        return [], [], ["The file is empty: upload a CSV or XLSX table whose first row names the columns."]
    if len(data) > ATTRIBUTE_TABLE_MAX_BYTES:
        limit = size_text(ATTRIBUTE_TABLE_MAX_BYTES)
        return [], [], [f"The file is larger than {limit}: an attribute table holds one short row per case."]
    try:
        rows_read = tables.table_rows_read(
            data, max_rows=ATTRIBUTE_TABLE_MAX_ROWS, max_columns=ATTRIBUTE_TABLE_MAX_COLUMNS
        )
    except tables.TableUnreadable as error:
        sentence = f"The file cannot be read: {error}. Upload a UTF-8 CSV table or an XLSX workbook"
        return [], [], [f"{sentence} with a header row and one row per case."]
    lines = [[_attribute_text(cell) for cell in row] for row in rows_read]
    header = [cell.strip() for cell in lines[0]] if lines else []
    keys = [cell.lower() for cell in header]
    if CASE_COLUMN not in keys:
        return (
            [],
            [],
            [f"The first row names no {CASE_COLUMN!r} column: name the column of case names 'case'."],
        )
    case_at = keys.index(CASE_COLUMN)
    order = [case_at, *(i for i in range(len(header)) if i != case_at)]
    rows = [
        _AttributeRow(number, [(cells[i].strip() if i < len(cells) else "") for i in order])
        for number, cells in enumerate(lines[1:], start=2)
        if any(cell.strip() for cell in cells)
    ]
    return [CASE_COLUMN, *(header[i] for i in order[1:])], rows, []


def _attribute_text(value: object) -> str:
    """A cell as text: 3 not 3.0, blank for an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _attribute_problems(
    *, header: Sequence[str], rows: Sequence[_AttributeRow], cases: Mapping[str, int], dataset: Dataset
) -> list[str]:
    """A sentence per problem of the table's columns and rows; empty when it can be applied."""
    return _attribute_column_problems(header[1:]) + _attribute_row_problems(
        rows=rows, cases=cases, dataset=dataset
    )


def _attribute_column_problems(columns: Sequence[str]) -> list[str]:
    problems = []
    if not [column for column in columns if column]:
        problems.append(
            "The table has only a case column: add a column per attribute, e.g. centre or scanner."
        )
    if "" in columns:
        problems.append("A column has no name in the first row: name it or remove it.")
    for column in sorted({column for column in columns if column and columns.count(column) > 1}):
        problems.append(f"Two columns are named {column!r}: rename one of them.")
    problems += [
        f"The column {column!r} has the name of an attribute the portal derives itself: rename it."
        for column in columns
        if column in selectors.DERIVED_ATTRIBUTES
    ]
    return problems


def _attribute_row_problems(
    *, rows: Sequence[_AttributeRow], cases: Mapping[str, int], dataset: Dataset
) -> list[str]:
    if not rows:
        return ["The table has a header but no rows: add one row per case."]
    problems = []
    first_row: dict[str, int] = {}
    for row in rows:
        name = row.cells[0]
        if not name:
            problems.append(f"Row {row.number} names no case: fill in its case or remove the row.")
        elif name not in cases:
            problems.append(
                f"Row {row.number} names {name!r}, which is not a case of dataset {dataset.slug}: "
                "correct the name or remove the row."
            )
        elif name in first_row:
            problems.append(
                f"Row {row.number} names {name!r} again (first on row {first_row[name]}): "
                "keep one row per case."
            )
        else:
            first_row[name] = row.number
    return problems


def _attributes_apply(
    *, header: Sequence[str], rows: Sequence[_AttributeRow], cases: Mapping[str, int]
) -> None:
    by_case = {
        row.cells[0]: {
            column: value for column, value in zip(header[1:], row.cells[1:], strict=True) if value
        }
        for row in rows
    }
    updated = [Case(pk=pk, attributes=by_case.get(name, {})) for name, pk in cases.items()]
    Case.objects.bulk_update(updated, ["attributes"], batch_size=1000)
