"""Importing a release from the web's two sources: a folder under the import root the site admin set, and
an archive an organizer uploaded in chunks, unpacked with the predictions' archive checks."""

import datetime
import io
import os
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Split
from portal.datasets import services as dataset_services
from portal.datasets.exceptions import DatasetImportRefused, GroundTruthRefused, NotAnOrganizer
from portal.datasets.models import Case, Dataset, DatasetImport, GroundTruth, Image, ReleaseUpload
from portal.datasets.services import (
    dataset_import_create,
    ground_truth_version_create_from_archive,
    isles24_import,
    release_upload_append,
    release_upload_start,
)
from portal.datasets.tasks import release_uploads_expire_task
from portal.storage import private_storage
from portal.uploads.exceptions import UploadOffsetMismatch
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.datasets.factories import DatasetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def organized(db: None) -> tuple[Dataset, ChallengeRole]:
    """A dataset and an organizer of its challenge."""
    dataset = DatasetFactory()
    role = ChallengeRoleFactory(challenge=dataset.challenge, role=ChallengeRole.Role.ORGANIZER)
    return dataset, role


def release_tar_gz(release: Path, *, extra: tarfile.TarInfo | None = None) -> bytes:
    """The release folder as an organizer archives it (``tar czf isles24.tar.gz isles24``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(release, arcname=release.name)
        if extra is not None:
            archive.addfile(extra, io.BytesIO(b"x" * extra.size) if extra.isfile() else None)
    return buffer.getvalue()


def uploaded(content: bytes, *, dataset: Dataset, organizer: ChallengeRole, name: str) -> ReleaseUpload:
    """The archive uploaded in chunks of a third of it."""
    upload = release_upload_start(
        challenge=dataset.challenge, user=organizer.user, file_name=name, total_bytes=len(content)
    )
    chunk = len(content) // 3 + 1
    for start in range(0, len(content), chunk):
        piece = content[start : start + chunk]
        upload = release_upload_append(
            upload_id=upload.pk,
            user=organizer.user,
            start=start,
            total_bytes=len(content),
            length=len(piece),
            stream=io.BytesIO(piece),
        )
    return upload


@pytest.fixture
def imported(django_capture_on_commit_callbacks: Any) -> Callable[..., DatasetImport]:
    """Import an upload as the data page asks for it: the task runs on commit, in this process."""

    def run(upload: ReleaseUpload, *, dataset: Dataset, organizer: ChallengeRole) -> DatasetImport:
        with django_capture_on_commit_callbacks(execute=True):
            dataset_import = dataset_import_create(
                dataset=dataset, upload=upload, split=Split.TRAIN, requested_by=organizer.user
            )
        dataset_import.refresh_from_db()
        return dataset_import

    return run


def test_an_uploaded_release_archive_is_imported_with_its_report_and_its_file_removed(
    organized: tuple[Dataset, ChallengeRole],
    release: Path,
    case_names: list[str],
    imported: Callable[..., DatasetImport],
) -> None:
    dataset, organizer = organized
    content = release_tar_gz(release)
    upload = uploaded(content, dataset=dataset, organizer=organizer, name="isles24.tar.gz")

    dataset_import = imported(upload, dataset=dataset, organizer=organizer)

    assert dataset_import.status == DatasetImport.Status.SUCCEEDED, dataset_import.error
    assert dataset_import.source_path == "isles24.tar.gz"
    assert dataset_import.report["cases"] == len(case_names)
    assert dataset_import.report["masks"] == len(case_names)
    assert dataset_import.report["problems"] == []
    assert (dataset_import.progress_done, dataset_import.progress_total) == (3, 3)
    assert sorted(dataset.cases.values_list("name", flat=True)) == case_names
    assert not private_storage().exists(upload.file_name)


def test_a_resumed_upload_after_a_chunk_cut_short_holds_the_archive_byte_for_byte(
    organized: tuple[Dataset, ChallengeRole], release: Path, django_capture_on_commit_callbacks: Any
) -> None:
    dataset, organizer = organized
    content = release_tar_gz(release)
    upload = release_upload_start(
        challenge=dataset.challenge, user=organizer.user, file_name="isles24.tgz", total_bytes=len(content)
    )

    cut = release_upload_append(
        upload_id=upload.pk,
        user=organizer.user,
        start=0,
        total_bytes=len(content),
        length=5000,
        stream=io.BytesIO(content[:1234]),  # the connection dropped after 1,234 of 5,000 bytes
    )
    with pytest.raises(UploadOffsetMismatch) as mismatch:
        release_upload_append(
            upload_id=upload.pk,
            user=organizer.user,
            start=5000,
            total_bytes=len(content),
            length=len(content) - 5000,
            stream=io.BytesIO(content[5000:]),
        )
    with django_capture_on_commit_callbacks(execute=True):  # the parts go once the whole file is saved
        whole = release_upload_append(
            upload_id=upload.pk,
            user=organizer.user,
            start=cut.received_bytes,
            total_bytes=len(content),
            length=len(content) - cut.received_bytes,
            stream=io.BytesIO(content[cut.received_bytes :]),
        )

    assert cut.received_bytes == mismatch.value.received_bytes == 1234
    assert whole.is_complete
    with private_storage().open(whole.file_name, "rb") as stored:
        assert stored.read() == content
    assert [private_storage().exists(name) for name in whole.part_names] == [False, False]


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param(("../../etc/cron.d/evil", tarfile.REGTYPE, ""), id="dot-dot"),
        pytest.param(("isles24/raw_data/passwd", tarfile.SYMTYPE, "/etc/passwd"), id="symlink"),
        pytest.param(("/tmp/evil.nii.gz", tarfile.REGTYPE, ""), id="absolute"),
    ],
)
def test_a_hostile_release_archive_is_refused_with_a_sentence_and_imports_nothing(
    organized: tuple[Dataset, ChallengeRole],
    release: Path,
    hostile: tuple[str, bytes, str],
    imported: Callable[..., DatasetImport],
) -> None:
    dataset, organizer = organized
    name, kind, target = hostile
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = target
    member.size = 1 if kind == tarfile.REGTYPE else 0
    upload = uploaded(
        release_tar_gz(release, extra=member), dataset=dataset, organizer=organizer, name="isles24.tar.gz"
    )
    images_before = Image.objects.count()

    dataset_import = imported(upload, dataset=dataset, organizer=organizer)

    assert dataset_import.status == DatasetImport.Status.FAILED
    assert dataset_import.error.startswith("The archive was refused and nothing was imported: ")
    assert name in dataset_import.error
    assert (Case.objects.count(), Image.objects.count()) == (0, images_before)
    assert private_storage().exists(upload.file_name)  # kept, for the organizer to see what failed


def test_an_archive_without_a_release_in_it_fails_with_a_sentence(
    organized: tuple[Dataset, ChallengeRole], imported: Callable[..., DatasetImport]
) -> None:
    dataset, organizer = organized
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes/readme.txt", "no images here")
    upload = uploaded(buffer.getvalue(), dataset=dataset, organizer=organizer, name="notes.zip")

    dataset_import = imported(upload, dataset=dataset, organizer=organizer)

    assert dataset_import.status == DatasetImport.Status.FAILED
    assert dataset_import.error == (
        "notes.zip holds no raw_data/ or derivatives/ folder (at its top or in a folder there), so it is "
        "not an ISLES'24 release; nothing was imported."
    )


def test_an_upload_is_refused_before_any_byte_to_someone_who_organizes_another_challenge(
    organized: tuple[Dataset, ChallengeRole],
) -> None:
    dataset, _ = organized
    elsewhere = ChallengeRoleFactory(role=ChallengeRole.Role.ORGANIZER)

    with pytest.raises(NotAnOrganizer):
        release_upload_start(
            challenge=dataset.challenge, user=elsewhere.user, file_name="isles24.zip", total_bytes=10
        )
    with pytest.raises(DatasetImportRefused, match="is not a release archive"):
        release_upload_start(
            challenge=elsewhere.challenge, user=elsewhere.user, file_name="isles24.rar", total_bytes=10
        )
    assert ReleaseUpload.objects.count() == 0


def test_an_incomplete_upload_is_not_imported(organized: tuple[Dataset, ChallengeRole]) -> None:
    dataset, organizer = organized
    upload = release_upload_start(
        challenge=dataset.challenge, user=organizer.user, file_name="isles24.zip", total_bytes=10
    )

    with pytest.raises(DatasetImportRefused, match=r"has not arrived whole yet \(0 of 10 bytes\)"):
        dataset_import_create(dataset=dataset, upload=upload, split=Split.TRAIN, requested_by=organizer.user)
    assert DatasetImport.objects.count() == 0


def test_a_folder_outside_the_import_root_is_refused_with_a_sentence(
    organized: tuple[Dataset, ChallengeRole], release: Path, tmp_path: Path
) -> None:
    dataset, organizer = organized
    root = tmp_path / "imports"
    root.mkdir()

    with override_settings(ISLES_IMPORT_ROOT=root):
        with pytest.raises(DatasetImportRefused) as outside:
            dataset_import_create(
                dataset=dataset, source_path=release, split=Split.TRAIN, requested_by=organizer.user
            )
        with pytest.raises(DatasetImportRefused) as climbing:
            dataset_import_create(
                dataset=dataset, source_path="../isles24", split=Split.TRAIN, requested_by=organizer.user
            )
        (root / "isles24").symlink_to(release)
        with pytest.raises(DatasetImportRefused) as linked:
            dataset_import_create(
                dataset=dataset, source_path="isles24", split=Split.TRAIN, requested_by=organizer.user
            )

    assert outside.value.sentence == (
        f"{release} is outside the import root {root} that the site admin configured; ask them to put the "
        "release under it, or upload the release as an archive."
    )
    assert climbing.value.sentence == (
        f"../isles24 holds '..'; name the release folder by its path under the import root {root}."
    )
    assert "outside the import root" in linked.value.sentence
    assert DatasetImport.objects.count() == 0


def test_a_link_inside_a_release_folder_pointing_out_of_the_root_is_refused(
    organized: tuple[Dataset, ChallengeRole], release: Path, tmp_path: Path
) -> None:
    dataset, _ = organized
    root = tmp_path / "imports"
    root.mkdir()
    copy = root / "isles24"
    os.rename(release, copy)
    (copy / "raw_data" / "secrets").symlink_to("/etc")

    with override_settings(ISLES_IMPORT_ROOT=root), pytest.raises(DatasetImportRefused) as linked:
        dataset_import_create(dataset=dataset, source_path="isles24", split=Split.TRAIN)

    assert linked.value.sentence == (
        f"isles24/raw_data/secrets is a link to /etc, outside the import root {root}; put the files "
        "themselves under the root."
    )


def test_a_folder_under_the_root_is_imported_by_its_name(
    organized: tuple[Dataset, ChallengeRole], release: Path, case_names: list[str]
) -> None:
    dataset, organizer = organized

    with override_settings(ISLES_IMPORT_ROOT=release.parent):
        dataset_import = dataset_import_create(
            dataset=dataset, source_path=release.name, split=Split.TRAIN, requested_by=organizer.user
        )

    assert dataset_import.source_path == str(release)
    assert dataset_import.requested_by == organizer.user


def test_the_command_keeps_to_the_import_root_unless_the_admin_overrides_it(
    release: Path, tmp_path: Path
) -> None:
    from tests.portal.challenges.factories import ChallengeFactory

    ChallengeFactory(slug="isles24")
    arguments = [str(release), "--challenge", "isles24", "--split", "train"]

    with override_settings(ISLES_IMPORT_ROOT=tmp_path / "imports"):
        with pytest.raises(CommandError, match="is outside the import root"):
            call_command("import_isles24", *arguments, stdout=io.StringIO())
        call_command("import_isles24", *arguments, "--outside-import-root", stdout=io.StringIO())

    assert Case.objects.count() == 3


def test_a_ground_truth_version_is_made_from_an_uploaded_archive_of_masks(
    organized: tuple[Dataset, ChallengeRole], release: Path, case_names: list[str], tmp_path: Path
) -> None:
    dataset, organizer = organized
    isles24_import(dataset=dataset, root=release, split=Split.TRAIN)
    first = case_names[0]
    mask = release / "derivatives" / first / "ses-02" / f"{first}_ses-02_lesion-msk.nii.gz"
    archive = tmp_path / "masks.zip"
    with zipfile.ZipFile(archive, "w") as masks:
        masks.write(mask, f"corrected/{first}_lesion-msk.nii.gz")

    version = ground_truth_version_create_from_archive(
        dataset=dataset,
        archive=archive,
        folder=tmp_path / "masks",
        note="Corrected",
        created_by=organizer.user,
    )

    assert (version.number, version.source, version.note) == (2, "UPLOAD", "Corrected")
    assert GroundTruth.objects.filter(version=2).count() == len(case_names)


def test_a_hostile_archive_of_masks_makes_no_version(
    organized: tuple[Dataset, ChallengeRole], release: Path, tmp_path: Path
) -> None:
    dataset, organizer = organized
    isles24_import(dataset=dataset, root=release, split=Split.TRAIN)
    archive = tmp_path / "masks.zip"
    with zipfile.ZipFile(archive, "w") as masks:
        masks.writestr("../sub-stroke0001.nii.gz", b"x")

    with pytest.raises(GroundTruthRefused) as refused:
        ground_truth_version_create_from_archive(
            dataset=dataset, archive=archive, folder=tmp_path / "masks", note="", created_by=organizer.user
        )

    assert refused.value.messages == ["../sub-stroke0001.nii.gz points outside the archive with '..'."]
    assert dataset.ground_truth_versions.count() == 1


def test_release_uploads_never_finished_within_a_day_are_removed_with_their_parts(
    organized: tuple[Dataset, ChallengeRole],
) -> None:
    dataset, organizer = organized

    def started(hours_ago: float, *, whole: bool) -> ReleaseUpload:
        size = 100 if whole else 1000
        upload = release_upload_start(
            challenge=dataset.challenge, user=organizer.user, file_name="isles24.zip", total_bytes=size
        )
        upload = release_upload_append(
            upload_id=upload.pk,
            user=organizer.user,
            start=0,
            total_bytes=size,
            length=100,
            stream=io.BytesIO(b"x" * 100),
        )
        ReleaseUpload.objects.filter(pk=upload.pk).update(
            created_at=timezone.now() - datetime.timedelta(hours=hours_ago)
        )
        return upload

    expired, recent, whole = started(25, whole=False), started(2, whole=False), started(25, whole=True)

    release_uploads_expire_task()

    assert set(ReleaseUpload.objects.values_list("pk", flat=True)) == {recent.pk, whole.pk}
    assert [private_storage().exists(name) for name in expired.part_names] == [False]
    assert [private_storage().exists(name) for name in recent.part_names] == [True]
    assert private_storage().exists(whole.file_name)


@pytest.mark.django_db(transaction=True)
def test_a_running_import_shows_its_progress_to_other_connections(
    release: Path, case_names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import's one transaction hides its rows until it ends; its progress is written beside it, so a
    page polling the row sees the cases go by."""
    monkeypatch.setattr(dataset_services, "PROGRESS_SECONDS", 0.01)
    dataset_import = dataset_import_create(
        dataset=DatasetFactory(), source_path=release, split=Split.TRAIN, queue=False
    )
    runner = threading.Thread(
        target=lambda: (
            dataset_services.dataset_import_run(dataset_import_id=dataset_import.pk),
            connections.close_all(),
        )
    )
    seen: set[tuple[str, int, int]] = set()

    runner.start()
    while runner.is_alive():
        row = DatasetImport.objects.values_list("progress_stage", "progress_done", "progress_total").get()
        seen.add(row)
        time.sleep(0.005)
    runner.join()

    assert {(f"Importing case {name}", done, 3) for done, name in enumerate(case_names)} & seen
    assert DatasetImport.objects.get().status == DatasetImport.Status.SUCCEEDED
