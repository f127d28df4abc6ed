"""The challenge's data page, as an organizer uses it: a release archive uploaded in chunks through the API
(resumed after a chunk cut short), imported from the page and followed on the import's page to its report;
a folder outside the import root and a hostile archive refused with a sentence; and an organizer of another
challenge refused everywhere."""

import io
import re
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Challenge
from portal.datasets.models import Case, DatasetImport, GroundTruthVersion
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import ChallengeFactory

pytestmark = pytest.mark.django_db


def _archive(release: Path, *, hostile: tarfile.TarInfo | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(release, arcname="isles24")
        if hostile is not None:
            archive.addfile(hostile)
    return buffer.getvalue()


def _organizer_of(challenge: Challenge) -> User:
    return ChallengeRoleFactory(challenge=challenge, role=ChallengeRole.Role.ORGANIZER).user


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _put(client: Client, upload_id: str, content: bytes, start: int, end: int) -> Any:
    return client.put(
        f"/api/release-uploads/{upload_id}/",
        data=content[start:end],
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes {start}-{end - 1}/{len(content)}",
    )


def _upload(client: Client, challenge: Challenge, content: bytes, *, chunk: int) -> str:
    started = client.post(
        f"/api/challenges/{challenge.slug}/release-uploads/",
        {"file_name": "isles24.tar.gz", "total_bytes": len(content)},
        content_type="application/json",
    )
    assert started.status_code == 201, started.content
    upload_id = started.json()["id"]
    for start in range(0, len(content), chunk):
        assert _put(client, upload_id, content, start, min(start + chunk, len(content))).status_code == 200
    return str(upload_id)


@pytest.fixture
def page_import(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """POST the data page's import form; the import's task runs on commit, in this process."""

    def post(client: Client, challenge: Challenge, form: dict[str, str]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/challenges/{challenge.slug}/organize/data/", form)

    return post


def test_an_archive_uploaded_in_chunks_and_resumed_is_imported_from_the_page_with_its_report(
    release: Path, case_names: list[str], page_import: Callable[..., Any]
) -> None:
    challenge = ChallengeFactory()
    client = _client(_organizer_of(challenge))
    content = _archive(release)
    started = client.post(
        f"/api/challenges/{challenge.slug}/release-uploads/",
        {"file_name": "isles24.tar.gz", "total_bytes": len(content)},
        content_type="application/json",
    ).json()
    upload_id = started["id"]
    half = len(content) // 2

    first = _put(client, upload_id, content, 0, half)
    skipped = _put(client, upload_id, content, half + 10, len(content))  # a chunk lost on the way
    resume_from = client.get(f"/api/release-uploads/{upload_id}/").json()["received_bytes"]
    last = _put(client, upload_id, content, resume_from, len(content))
    page = page_import(client, challenge, {"dataset": "isles24", "split": "TRAIN", "upload": upload_id})

    assert (first.status_code, skipped.status_code, last.status_code) == (200, 409, 200)
    assert skipped.json()["received_bytes"] == resume_from == half
    assert last.json()["complete"] is True
    dataset_import = DatasetImport.objects.get()
    assert page.status_code == 302
    assert page["Location"] == f"/challenges/{challenge.slug}/organize/data/imports/{dataset_import.pk}/"
    report_page = client.get(page["Location"]).content.decode()
    assert f"{len(case_names)} cases,\n    {len(case_names) * 13} images" in report_page
    assert "None: every case has every file of the release layout." in report_page
    polled = client.get(f"/api/challenges/{challenge.slug}/dataset-imports/{dataset_import.pk}/")
    again = client.get(
        f"/api/challenges/{challenge.slug}/dataset-imports/{dataset_import.pk}/",
        HTTP_IF_NONE_MATCH=polled["ETag"],
    )
    assert polled.json()["status"] == "SUCCEEDED"
    assert polled.json()["report"]["cases"] == len(case_names)
    assert again.status_code == 304
    assert sorted(Case.objects.values_list("name", flat=True)) == case_names


def test_a_hostile_archive_fails_its_import_with_a_sentence_on_the_imports_page(
    release: Path, page_import: Callable[..., Any]
) -> None:
    challenge = ChallengeFactory()
    client = _client(_organizer_of(challenge))
    link = tarfile.TarInfo("isles24/raw_data/escape")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    upload_id = _upload(client, challenge, _archive(release, hostile=link), chunk=1_000_000)

    page = page_import(client, challenge, {"dataset": "isles24", "split": "TRAIN", "upload": upload_id})
    shown = client.get(page["Location"]).content.decode()

    assert "The archive was refused and nothing was imported: isles24/raw_data/escape is a link" in shown
    assert Case.objects.count() == 0


def test_a_folder_outside_the_import_root_is_refused_on_the_page(release: Path, tmp_path: Path) -> None:
    challenge = ChallengeFactory()
    client = _client(_organizer_of(challenge))

    with override_settings(ISLES_IMPORT_ROOT=tmp_path / "imports"):
        page = client.post(
            f"/challenges/{challenge.slug}/organize/data/",
            {"dataset": "isles24", "split": "TRAIN", "folder": str(release)},
        )

    assert page.status_code == 400
    assert not challenge.datasets.exists()  # the dataset the form named was not left behind
    assert re.search(
        r"is outside the import root .*imports that the site admin configured", page.content.decode()
    )
    assert DatasetImport.objects.count() == 0


def test_an_organizer_of_another_challenge_is_refused_everywhere(release: Path) -> None:
    challenge = ChallengeFactory()
    owner = _client(_organizer_of(challenge))
    upload_id = _upload(owner, challenge, b"0123456789", chunk=4)
    stranger = _client(_organizer_of(ChallengeFactory()))

    answers = [
        stranger.get(f"/challenges/{challenge.slug}/organize/data/").status_code,
        stranger.post(
            f"/challenges/{challenge.slug}/organize/data/",
            {"dataset": "isles24", "split": "TRAIN", "upload": upload_id},
        ).status_code,
        stranger.post(
            f"/api/challenges/{challenge.slug}/release-uploads/",
            {"file_name": "isles24.zip", "total_bytes": 10},
            content_type="application/json",
        ).status_code,
        stranger.get(f"/api/release-uploads/{upload_id}/").status_code,
        _put(stranger, upload_id, b"0123456789", 0, 10).status_code,
    ]

    assert answers == [403, 403, 403, 404, 404]
    assert DatasetImport.objects.count() == 0


def test_a_ground_truth_version_is_uploaded_from_the_page(release: Path, case_names: list[str]) -> None:
    from portal.challenges.models import Split
    from portal.datasets.services import isles24_import
    from tests.portal.datasets.factories import DatasetFactory

    dataset = DatasetFactory()
    isles24_import(dataset=dataset, root=release, split=Split.TRAIN)
    client = _client(_organizer_of(dataset.challenge))
    first = case_names[0]
    mask = (release / "derivatives" / first / "ses-02" / f"{first}_ses-02_lesion-msk.nii.gz").read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(f"{first}.nii.gz")
        info.size = len(mask)
        archive.addfile(info, io.BytesIO(mask))
    buffer.name = "masks.tar.gz"
    buffer.seek(0)

    answer = client.post(
        f"/challenges/{dataset.challenge.slug}/organize/data/ground-truth/",
        {"dataset": dataset.pk, "archive": buffer, "note": "Corrected borders."},
        follow=True,
    )

    assert "Ground-truth version 2 of" in answer.content.decode()
    assert GroundTruthVersion.objects.get(dataset=dataset, number=2).note == "Corrected borders."
