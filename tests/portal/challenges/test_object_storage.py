"""A challenge's logo, public media, in an S3-compatible object store (``STORAGE_URL``; the tests' store is
moto's S3 server): stored under ``media/`` with its image type, shown by a URL the store presigned, since
the bucket itself is private."""

import io

import PIL.Image
import pytest
import requests
from django.core.files.base import ContentFile

from tests.conftest import ObjectStore
from tests.portal.challenges.factories import ChallengeFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_a_logo_is_stored_under_media_and_shown_by_a_presigned_url(object_store: ObjectStore) -> None:
    buffer = io.BytesIO()
    PIL.Image.new("RGB", (40, 20), (200, 30, 30)).save(buffer, format="PNG")
    challenge = ChallengeFactory()

    challenge.logo.save("logo.png", ContentFile(buffer.getvalue()), save=True)

    assert f"media/{challenge.logo.name}" in object_store.object_keys()
    shown = requests.get(challenge.logo.url, timeout=10)
    assert shown.status_code == 200
    assert shown.content == buffer.getvalue()
    assert shown.headers["Content-Type"] == "image/png"
