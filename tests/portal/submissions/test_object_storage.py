"""A predictions archive in an S3-compatible object store (``STORAGE_URL``; the tests' store is moto's S3
server, spoken to over HTTP): stored by the normal service, read back by its checks and its scoring, listed
and removed through the storage API."""

from typing import Any

import pytest

from portal.storage import private_storage
from portal.submissions.models import CaseResult, Submission
from portal.submissions.services import submission_create
from tests.conftest import ObjectStore
from tests.portal.submissions.conftest import OpenPhase

pytestmark = pytest.mark.integration


def test_a_predictions_archive_round_trips_through_the_object_store(
    object_store: ObjectStore, open_phase: OpenPhase, django_capture_on_commit_callbacks: Any
) -> None:
    archive = open_phase.upload_good()
    content = archive.read()
    archive.seek(0)

    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(phase=open_phase.phase, user=open_phase.participant, upload=archive)

    key = f"private/{submission.file.name}"
    assert object_store.read(key) == content
    assert {
        f"private/{case.ground_truths.get().file.name}" for case in open_phase.cases
    } <= object_store.object_keys()
    # The checks and the scoring read the archive and the reference masks back from the store.
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SUCCEEDED, submission.problems
    assert sorted(
        CaseResult.objects.filter(submission=submission).values_list("metrics__dice", flat=True)
    ) == [
        1.0,
        1.0,
    ]

    storage = private_storage()
    folder, file_name = submission.file.name.rsplit("/", 1)
    assert file_name in storage.listdir(folder)[1]
    storage.delete(submission.file.name)
    assert key not in object_store.object_keys()
    assert not storage.exists(submission.file.name)
