"""Signed links to private files (``portal.storage.private_file_signed_url``) on the local file-system
storage: whoever holds one downloads the file's exact bytes without logging in, a byte range too, until the
link expires; a changed link, an expired one, or one made for another file opens nothing else."""

import time
import types
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from portal.storage import private_file_signed_url, private_storage

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
