"""What uploads leave on the server: an upload over the phase's cap is a 413 before its body is read, a
refused upload's file is removed, and the periodic cleanup removes what no row needs any more."""

import datetime
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncRequestFactory, Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from portal.algorithms.models import AlgorithmUpload
from portal.algorithms.services import algorithm_upload_append, algorithm_upload_start
from portal.storage import private_storage
from portal.submissions.exceptions import UploadTooLarge
from portal.submissions.models import Submission, SubmissionStateChange
from portal.submissions.services import submission_create, submission_transition
from portal.submissions.tasks import submission_check_task, submission_files_cleanup_task
from portal.submissions.uploads import upload_guard_install
from tests.portal.algorithms.conftest import AlgorithmPhase, algorithm_phase  # noqa: F401  # a fixture
from tests.portal.submissions.conftest import OpenPhase, mask_bytes, upload, zip_bytes

Status = Submission.Status
Capture = Callable[..., object]
CAP_SENTENCE = (
    "The upload is larger than 1 MB, the most this phase takes; send the masks gzipped (.nii.gz) in a .zip "
    "or .tar.gz."
)


def _too_big() -> SimpleUploadedFile:
    return SimpleUploadedFile("predictions.zip", bytes(1_500_000), content_type="application/zip")


def _stored_names() -> list[str]:
    folder = Path(private_storage().location) / "submissions"
    return sorted(str(path) for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


@pytest.fixture
def capped(open_phase: OpenPhase) -> OpenPhase:
    """The open phase, taking archives of at most 1 MB."""
    open_phase.phase.upload_max_mb = 1
    open_phase.phase.save(update_fields=["upload_max_mb"])
    return open_phase


def test_an_upload_over_the_cap_is_a_413_on_the_page_and_nothing_is_stored(capped: OpenPhase) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(capped.participant)
    before = _stored_names()

    response = client.post(
        reverse("phase-submissions", kwargs={"slug": capped.phase.slug}), {"file": _too_big()}
    )

    assert response.status_code == 413
    assert CAP_SENTENCE in response.content.decode()
    assert not Submission.objects.exists()
    assert _stored_names() == before


@pytest.mark.parametrize("authentication", ["token", "session"])
def test_an_upload_over_the_cap_is_a_413_in_the_api_and_nothing_is_stored(
    capped: OpenPhase, authentication: str
) -> None:
    client = Client()
    if authentication == "token":
        token = Token.objects.create(user=capped.participant)
        headers = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    else:
        client.force_login(capped.participant)
        headers = {}
    before = _stored_names()

    response = client.post(
        reverse("api:phase-submissions", kwargs={"slug": capped.phase.slug}), {"file": _too_big()}, **headers
    )

    assert response.status_code == 413
    assert response.json() == {"code": "too_large", "detail": CAP_SENTENCE}
    assert not Submission.objects.exists()
    assert _stored_names() == before


def test_an_upload_within_the_cap_is_taken(
    capped: OpenPhase, django_capture_on_commit_callbacks: Capture
) -> None:
    client = Client(enforce_csrf_checks=False)
    client.force_login(capped.participant)

    response = client.post(
        reverse("phase-submissions", kwargs={"slug": capped.phase.slug}), {"file": capped.upload_good()}
    )

    assert response.status_code == 302
    assert Submission.objects.count() == 1


def test_the_page_still_checks_csrf_once_the_size_is_within_the_cap(capped: OpenPhase) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(capped.participant)

    response = client.post(
        reverse("phase-submissions", kwargs={"slug": capped.phase.slug}), {"file": capped.upload_good()}
    )

    assert response.status_code == 403
    assert not Submission.objects.exists()


def test_a_body_that_claims_to_be_small_is_stopped_at_the_cap_as_it_streams(capped: OpenPhase) -> None:
    # An ASGI server hands Django the whole body whatever its Content-Length says; Django's own WSGI
    # handler reads no more than the length, and nothing of a body without one.
    request = AsyncRequestFactory().post("/", {"file": _too_big()})
    request.META["CONTENT_LENGTH"] = "1000"
    upload_guard_install(request, phase=capped.phase)

    with pytest.raises(UploadTooLarge, match="larger than 1 MB"):
        request.FILES  # noqa: B018  # reading it parses the body


def _submitted(open_phase: OpenPhase, content: bytes) -> Submission:
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=upload(content)
    )
    submission.refresh_from_db()
    return submission


def test_a_refused_upload_is_removed_from_storage_when_its_checks_fail(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Capture
) -> None:
    submission = _submitted(open_phase, zip_bytes({"notes.txt": b"no masks"}))
    name = submission.file.name

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]  # untyped fixture
        submission_check_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.file.name == ""
    assert not private_storage().exists(name)


def test_a_file_two_submissions_share_is_removed_only_when_neither_needs_it(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Capture
) -> None:
    content = zip_bytes({"notes.txt": b"no masks"})
    first, second = _submitted(open_phase, content), _submitted(open_phase, content)
    assert first.file.name == second.file.name

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]  # untyped fixture
        submission_check_task(submission_id=second.pk)
    assert private_storage().exists(first.file.name)  # the first, still pending, names it

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]  # untyped fixture
        submission_check_task(submission_id=first.pk)
    assert not private_storage().exists(first.file.name)


def _ended(open_phase: OpenPhase, *, status: Status, days_ago: int) -> Submission:
    """A submission that ended ``days_ago`` with ``status`` and no problems (an unexpected error)."""
    submission = _submitted(
        open_phase, zip_bytes({"sub-stroke0100.nii.gz": mask_bytes(), "x": bytes(days_ago)})
    )
    path = [Status.CHECKING, Status.EVALUATING, status] if status == Status.SUCCEEDED else [status]
    for to_status in path:
        submission_transition(submission=submission, to_status=to_status)
    SubmissionStateChange.objects.filter(submission=submission).update(
        at=timezone.now() - datetime.timedelta(days=days_ago)
    )
    return submission


def test_the_cleanup_keeps_other_failed_files_a_week_and_scored_ones_for_good(open_phase: OpenPhase) -> None:
    old_failure = _ended(open_phase, status=Status.FAILED, days_ago=8)
    recent_failure = _ended(open_phase, status=Status.CANCELLED, days_ago=1)
    scored = _ended(open_phase, status=Status.SUCCEEDED, days_ago=30)
    names = {submission.pk: submission.file.name for submission in (old_failure, recent_failure, scored)}

    submission_files_cleanup_task()

    assert not private_storage().exists(names[old_failure.pk])
    assert private_storage().exists(names[recent_failure.pk])
    assert private_storage().exists(names[scored.pk])
    old_failure.refresh_from_db()
    assert old_failure.file.name == ""


def test_the_cleanup_run_again_changes_nothing(open_phase: OpenPhase) -> None:
    old_failure = _ended(open_phase, status=Status.FAILED, days_ago=8)
    kept = _ended(open_phase, status=Status.FAILED, days_ago=2)
    submission_files_cleanup_task()
    before = _stored_names()

    submission_files_cleanup_task()

    assert _stored_names() == before
    assert private_storage().exists(kept.file.name)
    old_failure.refresh_from_db()
    assert old_failure.file.name == ""


def test_the_cleanup_leaves_a_submission_still_being_checked_alone(open_phase: OpenPhase) -> None:
    pending = _submitted(open_phase, zip_bytes({"notes.txt": b"no masks"}))
    SubmissionStateChange.objects.filter(submission=pending).update(
        at=timezone.now() - datetime.timedelta(days=30)
    )

    submission_files_cleanup_task()

    pending.refresh_from_db()
    assert pending.status == Status.PENDING
    assert private_storage().exists(pending.file.name)


def test_the_cleanup_removes_algorithm_uploads_never_completed_within_a_day(
    algorithm_phase: AlgorithmPhase,  # noqa: F811  # the fixture imported above
) -> None:
    def started(hours_ago: float) -> AlgorithmUpload:
        """An upload of which the first 100 bytes (one stored part) arrived ``hours_ago``."""
        upload = algorithm_upload_start(
            phase=algorithm_phase.phase, user=algorithm_phase.participant, total_bytes=1000
        )
        upload = algorithm_upload_append(
            upload_id=upload.pk,
            user=algorithm_phase.participant,
            start=0,
            total_bytes=1000,
            length=100,
            stream=io.BytesIO(b"x" * 100),
        )
        AlgorithmUpload.objects.filter(pk=upload.pk).update(
            created_at=timezone.now() - datetime.timedelta(hours=hours_ago)
        )
        return upload

    expired, recent = started(25), started(2)

    submission_files_cleanup_task()

    assert list(AlgorithmUpload.objects.values_list("pk", flat=True)) == [recent.pk]
    assert [private_storage().exists(name) for name in expired.part_names] == [False]
    assert [private_storage().exists(name) for name in recent.part_names] == [True]
