"""Check-only tries of an algorithm image, on the fake runtime: the image checks of a real submission, then
its sanity case alone, then CHECKED; never run on the phase's cases, never scored, not counted, and the
same image may then be submitted for real."""

import shutil
import sys
from pathlib import Path
from typing import Any

from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks

from portal.algorithms.models import AlgorithmImage
from portal.submissions.models import Submission
from portal.submissions.selectors import submission_list_counted
from portal.submissions.services import CHECK_ONLY_DAILY_LIMIT
from tests.inference.images import image_archive_write
from tests.portal.algorithms.conftest import AlgorithmPhase, FakeEngine, archive_upload, chunk_put

Status = Submission.Status
CHECK_ONLY = "Check only: not scored, not counted."


def copy_dwi(input_folder: Path, output_folder: Path) -> None:
    """The no-op algorithm: its segmentation is its DWI input."""
    source = next((input_folder / "images" / "dwi-brain-mri").glob("*.mha"))
    target = output_folder / "images" / "stroke-lesion-segmentation" / "output.mha"
    target.parent.mkdir(parents=True)
    shutil.copy(source, target)


def model_missing(input_folder: Path, output_folder: Path) -> int:
    print("model file missing", file=sys.stderr)
    return 3


def _try(
    algorithm_phase: AlgorithmPhase, archive: Path, capture: DjangoCaptureOnCommitCallbacks
) -> Submission:
    """Upload ``archive`` as a check-only try through the API, running each step it queues."""
    client = algorithm_phase.client_for(algorithm_phase.participant)
    content = archive.read_bytes()
    with capture(execute=True):
        started = client.post(
            f"/api/phases/{algorithm_phase.phase.slug}/algorithm-uploads/",
            {"total_bytes": len(content), "check_only": True},
            format="json",
        )
        assert started.status_code == 201, started.json()
        assert started.json()["check_only"] is True
        body = chunk_put(client, upload_id=started.json()["id"], content=content, start=0, end=len(content))
    return Submission.objects.get(pk=body["submission"])


def _counted(algorithm_phase: AlgorithmPhase) -> int:
    return submission_list_counted(
        phase=algorithm_phase.phase, team=None, user=algorithm_phase.participant
    ).count()


def test_a_check_only_try_runs_the_sanity_case_alone_and_ends_checked(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    attempt = _try(algorithm_phase, fake_engine.image(copy_dwi), django_capture_on_commit_callbacks)

    attempt.refresh_from_db()
    assert attempt.check_only
    assert attempt.status == Status.CHECKED, attempt.error
    assert [(job.case.name, job.is_sanity, job.status) for job in attempt.jobs.all()] == [
        ("sub-stroke0001", True, "SUCCEEDED")
    ]
    assert len(fake_engine.runtime.runs) == 1
    assert not attempt.case_results.exists()
    assert list(attempt.state_changes.values_list("to_status", flat=True)) == [
        Status.PENDING,
        Status.CHECKING,
        Status.EVALUATING,
        Status.CHECKED,
    ]
    assert attempt.state_changes.last().note == (
        f"Image checks passed; the sanity case sub-stroke0001 succeeded. {CHECK_ONLY}"
    )
    assert AlgorithmImage.objects.get(submission=attempt).file == ""
    assert _counted(algorithm_phase) == 0
    client = Client()
    client.force_login(algorithm_phase.participant)
    jobs_page = client.get(reverse("submission-jobs", args=[attempt.pk])).content.decode()
    assert "Check only: not scored, not counted. Only the sanity case runs." in jobs_page


def test_the_image_of_a_check_only_try_can_then_be_submitted_for_real(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    archive = fake_engine.image(copy_dwi)
    _try(algorithm_phase, archive, django_capture_on_commit_callbacks)

    client = algorithm_phase.client_for(algorithm_phase.participant)
    with django_capture_on_commit_callbacks(execute=True):
        body = archive_upload(client, phase=algorithm_phase.phase, archive=archive)

    real = Submission.objects.get(pk=body["submission"])
    assert not real.check_only
    assert real.status == Status.SUCCEEDED, real.error
    assert real.jobs.count() == 3
    assert _counted(algorithm_phase) == 1


def test_a_check_only_try_whose_sanity_case_fails_says_why_and_runs_nothing_else(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    attempt = _try(algorithm_phase, fake_engine.image(model_missing), django_capture_on_commit_callbacks)

    attempt.refresh_from_db()
    sanity = attempt.jobs.get()
    assert attempt.status == Status.FAILED
    assert attempt.error == f"The sanity case sub-stroke0001 failed: {sanity.failure} {CHECK_ONLY}"
    assert len(fake_engine.runtime.runs) == 1
    assert _counted(algorithm_phase) == 0


def test_a_check_only_try_of_a_root_image_gets_the_image_checks_sentence_and_runs_nothing(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    tmp_path: Path,
) -> None:
    config = {"architecture": "amd64", "os": "linux", "config": {"User": "root", "Entrypoint": ["/bin/run"]}}
    archive = image_archive_write(tmp_path / "root.tar", config=config)

    attempt = _try(algorithm_phase, archive, django_capture_on_commit_callbacks)

    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED
    assert len(attempt.problems) == 1
    assert attempt.problems[0].startswith("The image runs as root (USER is root)")
    assert not attempt.jobs.exists()
    assert fake_engine.runtime.runs == []


def test_check_only_tries_past_the_daily_cap_are_refused_before_the_upload(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    archive = fake_engine.image(model_missing)
    for _ in range(CHECK_ONLY_DAILY_LIMIT):
        _try(algorithm_phase, archive, django_capture_on_commit_callbacks)
    client = algorithm_phase.client_for(algorithm_phase.participant)

    refused = client.post(
        f"/api/phases/{algorithm_phase.phase.slug}/algorithm-uploads/",
        {"total_bytes": 1000, "check_only": True},
        format="json",
    )
    real = client.post(
        f"/api/phases/{algorithm_phase.phase.slug}/algorithm-uploads/", {"total_bytes": 1000}, format="json"
    )

    body: dict[str, Any] = refused.json()
    assert refused.status_code == 400
    assert body["code"] == "check_only_limit"
    assert body["detail"] == (
        f"You have used your {CHECK_ONLY_DAILY_LIMIT} check-only tries of this phase for today; the next one "
        "is possible after 00:00 UTC, and real submissions are not affected."
    )
    assert real.status_code == 201
    assert real.json()["check_only"] is False


def test_the_upload_page_has_the_check_only_box(algorithm_phase: AlgorithmPhase) -> None:
    client = Client()
    client.force_login(algorithm_phase.participant)

    page = client.get(reverse("algorithm-upload", args=[algorithm_phase.phase.slug]))

    text = " ".join(page.content.decode().split())
    assert page.status_code == 200
    assert '<input type="checkbox" id="check-only">' in text
    assert "Check only (not scored, not counted)" in text
