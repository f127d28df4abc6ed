"""The whole job flow of an algorithm submission without a Docker engine: uploads through the API, checks,
jobs handed out from the database, runs on ``inference.runtime.FakeRuntime`` (a Python function is "the
container"), the sanity case first, failures with their sentences, logs for those allowed to read them,
and the evaluation of the jobs' segmentations. tests/portal/algorithms/test_jobs.py runs the same flow on
real containers.

``django_capture_on_commit_callbacks`` runs each next step that a step queues after its commit, in this
process, as the worker would.
"""

import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_django import DjangoCaptureOnCommitCallbacks

from portal.algorithms.models import AlgorithmSettings, Job
from portal.algorithms.services import job_list_waiting
from portal.submissions.models import Submission
from portal.submissions.selectors import submission_list_counted
from portal.submissions.services import submission_check
from tests.portal.algorithms.conftest import AlgorithmPhase, FakeEngine, archive_upload, copy_dwi

Status = Submission.Status


def model_missing(input_folder: Path, output_folder: Path) -> int:
    print("model file missing", file=sys.stderr)
    return 3


def writes_nothing(input_folder: Path, output_folder: Path) -> None:
    print("done")


def _submit(
    algorithm_phase: AlgorithmPhase, archive: Path, capture: DjangoCaptureOnCommitCallbacks
) -> Submission:
    client = algorithm_phase.client_for(algorithm_phase.participant)
    with capture(execute=True):
        body = archive_upload(client, phase=algorithm_phase.phase, archive=archive)
    return Submission.objects.get(pk=body["submission"])


def test_an_algorithm_runs_on_every_case_and_its_segmentations_are_scored(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    submission = _submit(algorithm_phase, fake_engine.image(copy_dwi), django_capture_on_commit_callbacks)

    jobs = list(submission.jobs.order_by("-is_sanity", "case__name"))
    assert submission.status == Status.SUCCEEDED, submission.error
    assert [(job.case.name, job.is_sanity, job.status) for job in jobs] == [
        ("sub-stroke0001", True, "SUCCEEDED"),
        ("sub-stroke0100", False, "SUCCEEDED"),
        ("sub-stroke0101", False, "SUCCEEDED"),
    ]
    assert all(job.exit_code == 0 and job.attempt == 1 and not job.had_gpu for job in jobs)
    assert jobs[0].stdout_tail.strip() == "segmenting"
    # The sanity case ran first: every other job waited for it.
    assert all(jobs[0].finished_at <= job.started_at for job in jobs[1:])
    assert len(fake_engine.runtime.runs) == 3
    results = {result.case.name: result.metrics for result in submission.case_results.all()}
    assert set(results) == {"sub-stroke0100", "sub-stroke0101"}
    assert 0 < results["sub-stroke0100"]["dice"] < 0.2


@pytest.mark.parametrize(("gpu", "device"), [(True, "0"), (False, None)])
def test_a_run_gets_the_workers_gpu_only_when_the_phase_asks_for_one(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    settings: Any,
    gpu: bool,
    device: str | None,
) -> None:
    settings.ISLES_GPU_DEVICE = "0"
    AlgorithmSettings.objects.filter(phase=algorithm_phase.phase).update(gpu=gpu)

    submission = _submit(algorithm_phase, fake_engine.image(copy_dwi), django_capture_on_commit_callbacks)

    assert submission.status == Status.SUCCEEDED, submission.error
    assert [run.gpu_device for run in fake_engine.runtime.runs] == [device] * 3
    assert [job.had_gpu for job in submission.jobs.all()] == [gpu] * 3


def test_a_failed_sanity_case_cancels_the_other_jobs_and_spends_no_quota(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    submission = _submit(
        algorithm_phase, fake_engine.image(model_missing), django_capture_on_commit_callbacks
    )

    sanity, *others = submission.jobs.order_by("-is_sanity")
    assert submission.status == Status.FAILED
    assert (sanity.status, sanity.exit_code, sanity.attempt) == ("FAILED", 3, 1)  # not retried
    assert sanity.stderr_tail.strip() == "model file missing"
    assert [other.status for other in others] == ["CANCELLED", "CANCELLED"]
    assert submission.error.startswith(f"The sanity case sub-stroke0001 failed: {sanity.failure}")
    assert "3" in sanity.failure
    assert len(fake_engine.runtime.runs) == 1
    assert not submission_list_counted(
        phase=algorithm_phase.phase, team=None, user=algorithm_phase.participant
    ).exists()


def test_a_missing_output_names_the_expected_path(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    submission = _submit(
        algorithm_phase, fake_engine.image(writes_nothing), django_capture_on_commit_callbacks
    )

    sanity = submission.jobs.get(is_sanity=True)
    assert sanity.status == "FAILED"
    assert "/output/images/stroke-lesion-segmentation" in sanity.failure


def test_an_image_the_worker_cannot_load_fails_the_sanity_case_with_the_runtimes_sentence(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    archive = fake_engine.image(copy_dwi)
    fake_engine.forget_images()

    submission = _submit(algorithm_phase, archive, django_capture_on_commit_callbacks)

    sanity = submission.jobs.get(is_sanity=True)
    assert (submission.status, sanity.status, sanity.attempt) == (Status.FAILED, "FAILED", 1)
    assert "could not be loaded" in sanity.failure
    assert "unexpected" not in sanity.failure


def _jobs_as(algorithm_phase: AlgorithmPhase, user: Any) -> list[dict[str, Any]]:
    submission = Submission.objects.get()
    return algorithm_phase.client_for(user).get(f"/api/submissions/{submission.pk}/jobs/").json()


def test_logs_are_shown_to_organizers_and_to_participants_only_where_the_phase_allows(
    algorithm_phase: AlgorithmPhase,
    fake_engine: FakeEngine,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    def listing_then_copy(input_folder: Path, output_folder: Path) -> None:
        print(
            *sorted(path.name for path in (input_folder / "images" / "dwi-brain-mri").iterdir()),
            file=sys.stderr,
        )
        copy_dwi(input_folder, output_folder)

    _submit(algorithm_phase, fake_engine.image(listing_then_copy), django_capture_on_commit_callbacks)

    hidden = _jobs_as(algorithm_phase, algorithm_phase.participant)
    organizer = _jobs_as(algorithm_phase, algorithm_phase.organizer)
    AlgorithmSettings.objects.filter(phase=algorithm_phase.phase).update(logs_visible_to_participants=True)
    shown = _jobs_as(algorithm_phase, algorithm_phase.participant)

    assert [job["case"] for job in organizer] == ["sub-stroke0001", "sub-stroke0100", "sub-stroke0101"]
    assert all(job["stderr_tail"] for job in organizer)
    assert all(job["stderr_tail"] is None and "organizers only" in job["log_hidden"] for job in hidden)
    assert shown[0]["stderr_tail"] == organizer[0]["stderr_tail"]
    assert all(job["stderr_tail"] is None and "hidden test cases" in job["log_hidden"] for job in shown[1:])


def test_jobs_are_handed_out_sanity_first_then_by_turns_between_submissions(
    algorithm_phase: AlgorithmPhase, fake_engine: FakeEngine
) -> None:
    """Nothing is committed here, so no job runs: the order of the waiting jobs is read as it stands."""
    client = algorithm_phase.client_for(algorithm_phase.participant)
    first = archive_upload(client, phase=algorithm_phase.phase, archive=fake_engine.image(copy_dwi))
    submission_check(submission_id=first["submission"])
    submission = Submission.objects.get(pk=first["submission"])
    sanity = submission.jobs.get(is_sanity=True)

    assert list(job_list_waiting()) == [sanity]  # the others wait for the sanity case

    Job.objects.filter(pk=sanity.pk).update(status="SUCCEEDED")
    waiting = list(job_list_waiting())
    assert [job.case.name for job in waiting] == ["sub-stroke0100", "sub-stroke0101"]

    Job.objects.filter(pk=waiting[0].pk).update(status="RUNNING", claimed_by="worker-1 pid 1 claim x")
    assert [job.case.name for job in job_list_waiting()] == ["sub-stroke0101"]


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.FAILED])
def test_no_job_of_an_ended_submission_is_handed_out(
    algorithm_phase: AlgorithmPhase, fake_engine: FakeEngine, status: str
) -> None:
    client = algorithm_phase.client_for(algorithm_phase.participant)
    body = archive_upload(client, phase=algorithm_phase.phase, archive=fake_engine.image(copy_dwi))
    submission_check(submission_id=body["submission"])
    Submission.objects.filter(pk=body["submission"]).update(status=status)

    assert list(job_list_waiting()) == []
