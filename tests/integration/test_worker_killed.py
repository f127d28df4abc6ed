"""A worker killed with SIGKILL in the middle of an evaluation loses nothing and duplicates nothing.

A real worker takes a submission of many small cases from Redis and starts scoring it; when the first
case results are in the database its whole process group is killed with SIGKILL, as a machine would
die. Its message was never acknowledged, but Redis would give it back only after its visibility timeout
(an hour here, as in production): the database is the record of work. The worker started after the
kill runs Celery beat, whose sweeper finds the evaluation's claim without a heartbeat and queues it
again; the worker claims it, scores only the cases that have no result yet, and records the submission
SUCCEEDED once.
"""

import hashlib
import os
import signal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Phase, Split
from portal.datasets.models import GroundTruth
from portal.submissions.models import CaseResult, Submission
from portal.submissions.services import submission_create
from tests.integration.conftest import WorkerStart, wait_for
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.datasets.factories import CaseFactory, ImageFactory
from tests.portal.submissions.conftest import mask_bytes, zip_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CASES = 60
SHAPE = (32, 32, 16)
SPACING_MM = (0.5, 0.5, 2.0)
WAIT_SECONDS = 45.0

Status = Submission.Status


def _phase_with_cases() -> Phase:
    phase = PhaseFactory(
        submission_kind=Phase.SubmissionKind.PREDICTIONS, split=Split.TEST, daily_submission_limit=5
    )
    ground_truth = mask_bytes(shape=SHAPE)
    for index in range(CASES):
        case = CaseFactory(dataset=phase.dataset, name=f"sub-stroke{index + 100:04d}", split=Split.TEST)
        ImageFactory(case=case, shape=list(SHAPE), spacing_mm=list(SPACING_MM))
        GroundTruth.objects.create(
            case=case,
            file=ContentFile(ground_truth, name="mask.nii.gz"),
            sha256=hashlib.sha256(ground_truth).hexdigest(),
            shape=list(SHAPE),
            spacing_mm=list(SPACING_MM),
            lesion_volume_ml=8 * 0.5 * 0.5 * 2.0 / 1000,
            source_encoding="uint8 {0, 1}",
        )
    return phase


def test_a_worker_killed_mid_evaluation_is_replaced_and_the_submission_ends_with_one_result_per_case(
    celery_worker_start: WorkerStart, empty_broker: str, tmp_path: Path
) -> None:
    phase = _phase_with_cases()
    participant = ChallengeRoleFactory(challenge=phase.challenge, role=ChallengeRole.Role.PARTICIPANT).user
    prediction = mask_bytes(shape=SHAPE)
    archive = zip_bytes({f"sub-stroke{index + 100:04d}.nii.gz": prediction for index in range(CASES)})
    log_path = tmp_path / "workers.log"
    first = celery_worker_start(log_path=log_path, fast_steps=True)

    submission = submission_create(
        phase=phase, user=participant, upload=SimpleUploadedFile("predictions.zip", archive)
    )
    results = CaseResult.objects.filter(submission=submission)
    wait_for(
        "the first case results",
        lambda: results.exists(),
        logs=[log_path],
        seconds=WAIT_SECONDS,
        interval_s=0.01,
    )
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    scored_before_the_kill = results.count()
    submission.refresh_from_db()
    assert submission.status == Status.EVALUATING
    assert 0 < scored_before_the_kill < CASES, "the worker was not killed in the middle of the evaluation"

    second = celery_worker_start(log_path=log_path, beat=True)
    wait_for(
        "the submission to end",
        lambda: Submission.objects.get(pk=submission.pk).status != Status.EVALUATING,
        logs=[log_path],
        seconds=WAIT_SECONDS,
        interval_s=0.2,
    )

    submission.refresh_from_db()
    assert second.poll() is None
    assert submission.status == Status.SUCCEEDED, submission.error
    assert results.count() == CASES
    assert sorted(results.values_list("case__name", flat=True)) == sorted(
        phase.dataset.cases.values_list("name", flat=True)
    )
    assert submission.state_changes.filter(to_status=Status.SUCCEEDED).count() == 1
    assert list(submission.state_changes.values_list("to_status", flat=True)) == [
        Status.PENDING,
        Status.CHECKING,
        Status.EVALUATING,
        Status.SUCCEEDED,
    ]
    assert submission.metrics_mean["dice"] == pytest.approx(1.0)
    assert first.returncode == -signal.SIGKILL
    assert f"queued again ['submission evaluation {submission.pk}']" in log_path.read_text()
