"""Signed links to private files (``portal.storage.private_file_signed_url``). On the local file-system
storage, they are the portal's: whoever holds one downloads the file's exact bytes without logging in, a
byte range too, until the link expires; a changed link, an expired one, or one made for another file opens
nothing else. In an object store (``STORAGE_URL``), they are the store's presigned URLs, and a private
object answers no unsigned request."""

import time
import types
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.test import Client

from portal.settings import object_storages
from portal.storage import private_file_signed_url, private_storage
from tests.conftest import ObjectStore

CONTENT = bytes(range(256)) * 40
"""A private file's bytes, every byte value, 10,240 of them."""


@pytest.fixture
def stored_names() -> tuple[str, str]:
    """Two files in private storage: a job output and a dataset image."""
    storage = private_storage()
    output = storage.save("jobs/7/output.mha", ContentFile(CONTENT))
    image = storage.save("datasets/1/image.nii.gz", ContentFile(b"another file"))
    return output, image


def _path(url: str) -> str:
    return urlsplit(url).path


def test_signed_url_is_absolute_under_the_portal_url(settings, stored_names: tuple[str, str]) -> None:
    settings.ISLES_PORTAL_URL = "https://portal.example.org/"

    url = private_file_signed_url(stored_names[0], max_age_s=60)

    assert url.startswith("https://portal.example.org/files/signed/")


def test_anyone_holding_a_signed_url_downloads_the_exact_bytes(
    client: Client, stored_names: tuple[str, str]
) -> None:
    url = private_file_signed_url(stored_names[0], max_age_s=60, filename="case-1 output.mha")

    answer = client.get(_path(url))

    assert answer.status_code == 200
    assert b"".join(answer.streaming_content) == CONTENT
    assert answer["Content-Length"] == str(len(CONTENT))
    assert answer["Content-Disposition"] == 'attachment; filename="case-1 output.mha"'
    assert answer["Accept-Ranges"] == "bytes"
    assert "no-store" in answer["Cache-Control"]


def test_a_signed_url_answers_a_range_from_a_byte_on(client: Client, stored_names: tuple[str, str]) -> None:
    url = private_file_signed_url(stored_names[0], max_age_s=60)

    answer = client.get(_path(url), HTTP_RANGE="bytes=1000-")

    assert answer.status_code == 206
    assert b"".join(answer.streaming_content) == CONTENT[1000:]
    assert answer["Content-Range"] == f"bytes 1000-{len(CONTENT) - 1}/{len(CONTENT)}"


def test_a_changed_signed_url_is_refused(client: Client, stored_names: tuple[str, str]) -> None:
    path = _path(private_file_signed_url(stored_names[0], max_age_s=60))
    token = path.removeprefix("/files/signed/").removesuffix("/")
    changed = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]

    answer = client.get(f"/files/signed/{changed}/")

    assert answer.status_code == 403
    assert answer.json() == {
        "code": "signed_link_invalid",
        "detail": "This download link is not one the portal made: ask the portal for a new one.",
    }


def test_an_expired_signed_url_is_refused(
    client: Client, stored_names: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _path(private_file_signed_url(stored_names[0], max_age_s=300))
    now = time.time()
    # The signer reads the clock through its module's ``time``: five minutes and a second later.
    monkeypatch.setattr("django.core.signing.time", types.SimpleNamespace(time=lambda: now + 301))

    answer = client.get(path)

    assert answer.status_code == 403
    assert answer.json()["code"] == "signed_link_expired"
    monkeypatch.setattr("django.core.signing.time", types.SimpleNamespace(time=lambda: now + 299))
    assert client.get(path).status_code == 200


def test_a_signed_url_opens_its_own_file_only(client: Client, stored_names: tuple[str, str]) -> None:
    output, image = stored_names
    image_path = _path(private_file_signed_url(image, max_age_s=60))
    output_token = _path(private_file_signed_url(output, max_age_s=60)).split("/")[3]
    image_token = image_path.split("/")[3]
    # The output's signature on the image's payload: one file's link does not vouch for another.
    spliced = image_token.rsplit(":", 1)[0] + ":" + output_token.rsplit(":", 1)[1]

    assert b"".join(client.get(image_path).streaming_content) == b"another file"
    assert client.get(f"/files/signed/{spliced}/").status_code == 403


def test_no_signed_url_leads_out_of_private_storage() -> None:
    for name in ("../media/logo.png", "/etc/passwd", "jobs/../../secret", ""):
        with pytest.raises(ValueError, match="not a name inside private storage"):
            private_file_signed_url(name, max_age_s=60)


def test_a_signed_url_of_a_removed_file_says_so(client: Client, stored_names: tuple[str, str]) -> None:
    url = private_file_signed_url(stored_names[0], max_age_s=60)
    private_storage().delete(stored_names[0])

    answer = client.get(_path(url))

    assert answer.status_code == 404
    assert "no longer stored" in answer.json()["detail"]


@pytest.mark.integration
def test_a_private_object_answers_only_a_signed_request(object_store: ObjectStore, s3_endpoint: str) -> None:
    name = private_storage().save("jobs/1/output.mha", ContentFile(b"segmentation"))

    unsigned = requests.get(f"{s3_endpoint}/{object_store.bucket}/private/{name}", timeout=10)
    signed = requests.get(private_file_signed_url(name, max_age_s=60, filename="output.mha"), timeout=10)

    assert unsigned.status_code == 403
    assert signed.status_code == 200
    assert signed.content == b"segmentation"
    assert signed.headers["Content-Disposition"] == 'attachment; filename="output.mha"'


@pytest.mark.integration
def test_a_presigned_url_lives_as_long_as_it_was_signed_for(object_store: ObjectStore) -> None:
    name = private_storage().save("jobs/1/output.mha", ContentFile(b"segmentation"))

    query = parse_qs(urlsplit(private_file_signed_url(name, max_age_s=300)).query)

    # The store refuses the URL after X-Amz-Expires seconds from X-Amz-Date (MinIO and S3 do; moto's
    # server checks neither the signature nor the expiry of a presigned URL).
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]


def test_without_a_storage_url_files_stay_in_the_local_folders(settings) -> None:
    root = Path(settings.PRIVATE_STORAGE_ROOT)

    assert settings.STORAGE_URL == ""
    assert Path(private_storage().path("a/b.nii.gz")) == root / "a" / "b.nii.gz"


def test_a_storage_url_puts_media_and_private_files_under_their_own_prefixes() -> None:
    storages = object_storages("s3://isles?endpoint_url=http://127.0.0.1:9000&region_name=eu-central-1")

    assert storages["private"]["OPTIONS"]["location"] == "private"
    assert storages["default"]["OPTIONS"]["location"] == "media"
    for storage in storages.values():
        assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
        assert storage["OPTIONS"]["bucket_name"] == "isles"
        assert storage["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:9000"
        assert storage["OPTIONS"]["default_acl"] is None  # never public-read


@pytest.mark.parametrize(
    "url", ["https://isles.example.org", "s3://", "s3://isles/folder", "s3://isles?bucket=x"]
)
def test_a_storage_url_that_names_no_bucket_is_refused_with_its_form(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"write it as s3://BUCKET\?endpoint_url="):
        object_storages(url)
