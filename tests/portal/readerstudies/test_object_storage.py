"""A reader study whose files are in an S3-compatible object store (``STORAGE_URL``; the tests' store is
moto's S3 server): the blinded masks and the background images still reach the reader through the portal,
under the items' tokens, never as a redirect to the store, whose object names would tell a reader which
mask is which and which the reading page's Content-Security-Policy would not load."""

from typing import Any

import pytest
from django.test import Client

from portal.readerstudies.models import BlindedMask, ReaderStudy
from tests.conftest import ObjectStore
from tests.portal.readerstudies.conftest import StudyWorld

pytestmark = pytest.mark.integration


def test_blinded_masks_and_backgrounds_are_streamed_by_the_portal_from_the_object_store(
    object_store: ObjectStore, study: ReaderStudy, study_world: StudyWorld, s3_endpoint: str
) -> None:
    client = Client()
    client.force_login(study_world.person("reader"))
    item: dict[str, Any] = client.get(f"/api/studies/{study.pk}/next/").json()
    stored = {f"private/{mask.file.name}" for mask in BlindedMask.objects.filter(study_case__study=study)}
    assert stored <= object_store.object_keys()

    assert len(item["images"]) > 0
    answers = [client.get(item["masks"][side]["url"]) for side in ("A", "B")]
    answers += [client.get(image["url"]) for image in item["images"]]

    for answer in answers:
        assert answer.status_code == 200
        assert "Location" not in answer
        assert "Content-Disposition" not in answer
    masks = {b"".join(answer.streaming_content) for answer in answers[:2]}
    assert masks <= {object_store.read(key) for key in stored}
    assert s3_endpoint not in str(item)
    assert object_store.bucket not in str(item)
