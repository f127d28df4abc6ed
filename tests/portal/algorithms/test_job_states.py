"""A job's task run again, on a job that has ended or whose submission has ended, changes nothing; a job
whose Docker engine is gone is tried again, then given up, and its case gets the worst values. No
container runs here: the image archives are written by hand and the engine is absent or never reached.
"""

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from pytest_django import DjangoCaptureOnCommitCallbacks
from pytest_django.fixtures import Settings

from portal.algorithms.exceptions import INFRASTRUCTURE_ERRORS
from portal.algorithms.models import Job
from portal.algorithms.services import MAX_JOB_ATTEMPTS, job_container_name, job_run
from portal.submissions.models import Submission
from portal.submissions.services import submission_check
from tests.inference.images import image_archive_write
from tests.portal.algorithms.conftest import AlgorithmPhase, archive_upload
from tests.portal.submissions.conftest import mask_bytes

Status = Submission.Status


def _checked(algorithm_phase: AlgorithmPhase, tmp_path: Path) -> Submission:
    """An accepted submission whose jobs are QUEUED (their tasks are not run: nothing is committed)."""
    client = algorithm_phase.client_for(algorithm_phase.participant)
    body = archive_upload(
        client, phase=algorithm_phase.phase, archive=image_archive_write(tmp_path / "i.tar")
    )
    submission_check(submission_id=body["submission"])
    return Submission.objects.get(pk=body["submission"])


def test_a_repeated_message_for_a_job_that_has_ended_changes_nothing(
    algorithm_phase: AlgorithmPhase,
    tmp_path: Path,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    sanity = _checked(algorithm_phase, tmp_path).jobs.get(is_sanity=True)
    Job.objects.filter(pk=sanity.pk).update(status="SUCCEEDED", attempt=1)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job_run(job_id=sanity.pk)

    assert callbacks == []
    assert Job.objects.filter(pk=sanity.pk).values_list("status", "attempt").get() == ("SUCCEEDED", 1)


def test_a_job_of_a_submission_that_has_ended_is_cancelled_without_running(
    algorithm_phase: AlgorithmPhase, tmp_path: Path
) -> None:
    submission = _checked(algorithm_phase, tmp_path)
    Submission.objects.filter(pk=submission.pk).update(status=Status.CANCELLED)
    sanity = submission.jobs.get(is_sanity=True)

    job_run(job_id=sanity.pk)

    sanity.refresh_from_db()
    assert (sanity.status, sanity.attempt, sanity.exit_code) == ("CANCELLED", 0, None)


def test_a_job_whose_docker_engine_is_gone_is_tried_again_then_given_up_without_spending_quota(
    algorithm_phase: AlgorithmPhase, tmp_path: Path, settings: Settings
) -> None:
    settings.DOCKER_HOST = f"unix://{tmp_path}/no-engine.sock"
    submission = _checked(algorithm_phase, tmp_path)
    sanity = submission.jobs.get(is_sanity=True)

    for _ in range(MAX_JOB_ATTEMPTS):
        with pytest.raises(INFRASTRUCTURE_ERRORS):
            job_run(job_id=sanity.pk)
        assert Job.objects.get(pk=sanity.pk).status == "RUNNING"
    job_run(job_id=sanity.pk)

    sanity.refresh_from_db()
    submission.refresh_from_db()
    assert (sanity.status, sanity.attempt) == ("FAILED", MAX_JOB_ATTEMPTS)
    assert "given up after 3 attempts" in sanity.failure
    assert submission.status == Status.FAILED
    assert set(submission.jobs.filter(is_sanity=False).values_list("status", flat=True)) == {"CANCELLED"}


def test_a_case_whose_job_failed_gets_the_worst_values_and_the_others_are_scored(
    algorithm_phase: AlgorithmPhase,
    tmp_path: Path,
    settings: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.DOCKER_HOST = f"unix://{tmp_path}/no-engine.sock"
    submission = _checked(algorithm_phase, tmp_path)
    sanity, scored, other = submission.jobs.order_by("-is_sanity", "case__name")
    for job in (sanity, scored):
        job.segmentation.save("segmentation.nii.gz", ContentFile(mask_bytes()), save=False)
        job.status = "SUCCEEDED"
        job.save()

    for _ in range(MAX_JOB_ATTEMPTS):
        with pytest.raises(INFRASTRUCTURE_ERRORS):
            job_run(job_id=other.pk)
    with django_capture_on_commit_callbacks(execute=True):
        job_run(job_id=other.pk)

    submission.refresh_from_db()
    results = {result.case.name: result.metrics for result in submission.case_results.all()}
    assert submission.status == Status.SUCCEEDED
    assert set(results) == {"sub-stroke0100", "sub-stroke0101"}  # the sanity case is a training case
    assert results["sub-stroke0100"]["dice"] == 1.0
    assert results["sub-stroke0101"]["dice"] == 0.0
    assert submission.metrics_mean["dice"] == 0.5


def test_job_containers_of_portals_on_other_databases_are_named_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two portals on one Docker engine both have a job 7: a worker of one, taking its job 7 over from a
    dead worker, removes the container named after it, which must not be the other portal's."""
    ours = job_container_name(job_id=7)
    monkeypatch.setitem(connection.settings_dict, "NAME", "another_portal")

    assert job_container_name(job_id=7) != ours
    assert job_container_name(job_id=7).endswith("-job-7")
    assert job_container_name(job_id=8) != job_container_name(job_id=7)
