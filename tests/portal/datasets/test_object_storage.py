"""A release in an S3-compatible object store (``STORAGE_URL``; the tests' store is moto's S3 server, spoken
to over HTTP): an uploaded release archive is imported into the bucket; a file download answers, after its
permission check, with a redirect to a URL the store presigned, from which the exact bytes come; the
viewer's volumes are still streamed by the portal (its pages allow no other origin); ``isles download``
fetches the split and resumes a cut file through the store."""

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import Client
from django.urls import reverse
from pytest_django.live_server_helper import LiveServer
from rest_framework.authtoken.models import Token

from inference.client import main
from portal.accounts.models import ChallengeRole
from portal.challenges.models import Split
from portal.datasets.models import DatasetImport, Image
from portal.datasets.services import dataset_import_create, release_upload_append, release_upload_start
from tests.conftest import ObjectStore
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.datasets.factories import DatasetFactory
from tests.portal.datasets.release_world import ImportedRelease, imported_release_build, manifest_read

pytestmark = pytest.mark.integration


@pytest.fixture
def imported(object_store: ObjectStore, release: Path, case_names: list[str]) -> ImportedRelease:
    """The small release imported into the object store: two training cases and a hidden test case."""
    return imported_release_build(release, case_names)


def _ncct(imported: ImportedRelease, case: str) -> Image:
    return Image.objects.get(case__dataset=imported.dataset, case__name=case, interface="non-contrast-ct")


@pytest.mark.django_db
def test_an_uploaded_release_archive_is_imported_into_the_object_store(
    object_store: ObjectStore,
    release: Path,
    case_names: list[str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    dataset = DatasetFactory()
    organizer = ChallengeRoleFactory(challenge=dataset.challenge, role=ChallengeRole.Role.ORGANIZER).user
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(release, arcname=release.name)
    content = buffer.getvalue()
    upload = release_upload_start(
        challenge=dataset.challenge, user=organizer, file_name="isles24.tar.gz", total_bytes=len(content)
    )
    upload = release_upload_append(
        upload_id=upload.pk,
        user=organizer,
        start=0,
        total_bytes=len(content),
        length=len(content),
        stream=io.BytesIO(content),
    )

    with django_capture_on_commit_callbacks(execute=True):
        dataset_import = dataset_import_create(
            dataset=dataset, upload=upload, split=Split.TRAIN, requested_by=organizer
        )

    dataset_import.refresh_from_db()
    assert dataset_import.status == DatasetImport.Status.SUCCEEDED, dataset_import.error
    assert dataset_import.report["cases"] == len(case_names)
    stored = {f"private/{image.file.name}" for image in Image.objects.filter(case__dataset=dataset)}
    assert len(stored) > 0
    assert stored <= object_store.object_keys()
    image = Image.objects.filter(case__dataset=dataset).first()
    assert image is not None
    release_file = release / image.release_path
    assert object_store.read(f"private/{image.file.name}") == release_file.read_bytes()
    assert not any(key.endswith(".tar.gz") for key in object_store.object_keys())  # the archive is removed


@pytest.mark.django_db
def test_a_file_download_redirects_after_its_check_to_a_presigned_url_of_the_exact_bytes(
    imported: ImportedRelease, client: Client, s3_endpoint: str
) -> None:
    image = _ncct(imported, imported.train[0])
    client.force_login(imported.participant)

    answer = client.get(reverse("image-download", args=[image.pk]))

    assert answer.status_code == 302
    location = answer["Location"]
    assert location.startswith(f"{s3_endpoint}/")
    assert "no-store" in answer["Cache-Control"]
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    assert "Content-Encoding" not in fetched.headers  # a .nii.gz arrives as it is stored, not inflated
    assert fetched.content == (imported.root / image.release_path).read_bytes()
    assert fetched.headers["Content-Disposition"] == f'attachment; filename="{Path(image.release_path).name}"'
    ranged = requests.get(location, headers={"Range": "bytes=100-"}, timeout=10)
    assert ranged.status_code == 206
    assert ranged.content == fetched.content[100:]


@pytest.mark.django_db
def test_a_hidden_file_is_refused_before_any_redirect(imported: ImportedRelease, client: Client) -> None:
    hidden = _ncct(imported, imported.test)
    client.force_login(imported.participant)

    answer = client.get(reverse("image-download", args=[hidden.pk]))

    assert answer.status_code == 404
    assert "Location" not in answer


@pytest.mark.django_db
def test_viewer_volumes_are_streamed_by_the_portal_not_redirected(
    imported: ImportedRelease, client: Client
) -> None:
    image = _ncct(imported, imported.train[0])
    client.force_login(imported.participant)

    answer = client.get(reverse("image-volume", args=[image.pk]))

    assert answer.status_code == 200
    assert "Location" not in answer
    assert "Content-Disposition" not in answer
    assert b"".join(answer.streaming_content) == (imported.root / image.release_path).read_bytes()


@pytest.mark.django_db(transaction=True)
def test_isles_download_fetches_the_split_and_resumes_a_cut_file_from_the_object_store(
    imported: ImportedRelease, live_server: LiveServer, tmp_path: Path
) -> None:
    token = Token.objects.create(user=imported.participant).key
    out_dir = tmp_path / "train"
    arguments = ["--url", live_server.url, "--token", token, "download", "isles24", "--split", "train"]
    assert main([*arguments, str(out_dir)], out=io.StringIO(), err=io.StringIO()) == 0
    manifest = manifest_read((out_dir / "MANIFEST.sha256").read_text())
    name = f"release/raw_data/{imported.train[1]}/ses-01/{imported.train[1]}_ses-01_ncct.nii.gz"
    cut = out_dir / name
    content = cut.read_bytes()
    cut.with_name(cut.name + ".part").write_bytes(content[: len(content) // 2])
    cut.unlink()

    err = io.StringIO()
    code = main([*arguments, str(out_dir)], out=io.StringIO(), err=err)

    # The portal answers the file's Range request with a redirect; the store answers the range.
    assert code == 0, err.getvalue()
    assert "1 resumed where they stopped" in err.getvalue()
    assert cut.read_bytes() == content
    assert name in manifest
