"""Jobs of algorithm submissions on real (busybox) containers: one per case, the sanity case first, logs
for those allowed to read them, and the evaluation of the jobs' segmentations.

The tasks run eagerly in the test process; ``django_capture_on_commit_callbacks`` runs each next step
that a step queues after its commit.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_django import DjangoCaptureOnCommitCallbacks

from inference.contract import ISLES24
from portal.accounts.models import User
from portal.algorithms.models import AlgorithmSettings
from portal.algorithms.services import algorithm_baseline_register
from portal.challenges.models import Split
from portal.datasets.models import Dataset
from portal.datasets.services import isles24_import
from portal.submissions.models import Submission
from portal.submissions.selectors import submission_list_counted
from releases.synthetic import write_release
from tests.inference.images import AlgorithmImage
from tests.portal.algorithms.conftest import COPY_DWI, AlgorithmPhase, archive_upload

pytestmark = pytest.mark.integration

Status = Submission.Status
SaveImage = Callable[[str], Path]


def _submit(
    algorithm_phase: AlgorithmPhase, archive: Path, capture: DjangoCaptureOnCommitCallbacks
) -> Submission:
    client = algorithm_phase.client_for(algorithm_phase.participant)
    with capture(execute=True):
        body = archive_upload(client, phase=algorithm_phase.phase, archive=archive, chunk_bytes=1 << 20)
    return Submission.objects.get(pk=body["submission"])


def test_an_algorithm_runs_on_every_case_and_its_segmentations_are_scored(
    algorithm_phase: AlgorithmPhase,
    saved_image: SaveImage,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    submission = _submit(algorithm_phase, saved_image(COPY_DWI), django_capture_on_commit_callbacks)

    jobs = list(submission.jobs.order_by("-is_sanity", "case__name"))
    assert submission.status == Status.SUCCEEDED, submission.error
    # The sanity case is a training case, run first and never scored: its log tells nothing hidden.
    assert [(job.case.name, job.is_sanity, job.status) for job in jobs] == [
        ("sub-stroke0001", True, "SUCCEEDED"),
        ("sub-stroke0100", False, "SUCCEEDED"),
        ("sub-stroke0101", False, "SUCCEEDED"),
    ]
    assert all(job.exit_code == 0 and job.attempt == 1 and not job.had_gpu for job in jobs)
    assert jobs[0].stdout_tail.strip() == "segmenting"
    # The DWI is one everywhere, so the mask is full: a true but tiny lesion inside it.
    results = {result.case.name: result.metrics for result in submission.case_results.all()}
    assert set(results) == {"sub-stroke0100", "sub-stroke0101"}
    assert 0 < results["sub-stroke0100"]["dice"] < 0.2


def test_a_failed_sanity_case_cancels_the_other_jobs_and_spends_no_quota(
    algorithm_phase: AlgorithmPhase,
    saved_image: SaveImage,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    submission = _submit(
        algorithm_phase,
        saved_image("echo model file missing >&2; exit 3"),
        django_capture_on_commit_callbacks,
    )

    sanity, *others = submission.jobs.order_by("-is_sanity")
    assert submission.status == Status.FAILED
    assert (sanity.status, sanity.exit_code, sanity.attempt) == ("FAILED", 3, 1)  # not retried
    assert sanity.stderr_tail.strip() == "model file missing"
    assert [other.status for other in others] == ["CANCELLED", "CANCELLED"]
    assert submission.error.startswith(f"The sanity case sub-stroke0001 failed: {sanity.failure}")
    assert "exit" in sanity.failure.lower()
    assert "3" in sanity.failure
    assert not submission_list_counted(
        phase=algorithm_phase.phase, team=None, user=algorithm_phase.participant
    ).exists()


def test_a_missing_output_names_the_expected_path(
    algorithm_phase: AlgorithmPhase,
    saved_image: SaveImage,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    submission = _submit(algorithm_phase, saved_image("echo done"), django_capture_on_commit_callbacks)

    sanity = submission.jobs.get(is_sanity=True)
    assert sanity.status == "FAILED"
    assert "/output/images/stroke-lesion-segmentation" in sanity.failure


def _jobs_as(algorithm_phase: AlgorithmPhase, user: User) -> list[dict[str, Any]]:
    submission = Submission.objects.get()
    return algorithm_phase.client_for(user).get(f"/api/submissions/{submission.pk}/jobs/").json()


def test_logs_are_shown_to_organizers_and_to_participants_only_where_the_phase_allows(
    algorithm_phase: AlgorithmPhase,
    saved_image: SaveImage,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    _submit(
        algorithm_phase,
        saved_image(f"ls /input/images/dwi-brain-mri >&2; {COPY_DWI}"),
        django_capture_on_commit_callbacks,
    )

    hidden = _jobs_as(algorithm_phase, algorithm_phase.participant)
    organizer = _jobs_as(algorithm_phase, algorithm_phase.organizer)
    AlgorithmSettings.objects.filter(phase=algorithm_phase.phase).update(logs_visible_to_participants=True)
    shown = _jobs_as(algorithm_phase, algorithm_phase.participant)

    assert [job["case"] for job in organizer] == ["sub-stroke0001", "sub-stroke0100", "sub-stroke0101"]
    assert all(job["stderr_tail"] for job in organizer)
    assert all(job["stderr_tail"] is None and "organizers only" in job["log_hidden"] for job in hidden)
    assert all(job["failure"] == "" and job["status"] == "SUCCEEDED" for job in hidden)
    # The sanity case is a training case: its log is shown; a hidden test case's never is, whatever the
    # phase's settings say, since a container can print anything about the images it reads.
    assert shown[0]["stderr_tail"] == organizer[0]["stderr_tail"]
    assert shown[0]["log_hidden"] == ""
    assert all(job["stderr_tail"] is None and "hidden test cases" in job["log_hidden"] for job in shown[1:])


def test_the_demo_baseline_is_submitted_from_the_local_engine_like_any_upload(
    algorithm_phase: AlgorithmPhase, algorithm_image: AlgorithmImage
) -> None:
    submission = algorithm_baseline_register(
        phase=algorithm_phase.phase, user=algorithm_phase.participant, image_tag=algorithm_image(COPY_DWI)
    )

    assert submission.kind == "ALGORITHM"
    assert submission.status == Status.PENDING
    assert submission.algorithm_image.size_bytes == submission.size_bytes > 0


@pytest.mark.parametrize(
    ("limits", "script", "failure"),
    [
        ({"time_limit_s": 1}, "sleep 30", "The algorithm did not finish within 1 s and was stopped."),
        (
            {"memory_gb": 0.064},
            "head -c 300m /dev/zero | tail",
            "The algorithm ran out of memory (limit 0.064 GB) and was stopped.",
        ),
    ],
    ids=["time-limit", "memory-limit"],
)
def test_the_phases_limits_stop_a_run_and_the_sentence_names_them(
    algorithm_phase: AlgorithmPhase,
    saved_image: SaveImage,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    limits: dict[str, float],
    script: str,
    failure: str,
) -> None:
    AlgorithmSettings.objects.filter(phase=algorithm_phase.phase).update(**limits)

    submission = _submit(algorithm_phase, saved_image(script), django_capture_on_commit_callbacks)

    assert submission.jobs.get(is_sanity=True).failure == failure


def test_an_imported_isles24_case_is_staged_with_every_input_and_only_its_admission_data(
    algorithm_phase: AlgorithmPhase,
    saved_image: SaveImage,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    tmp_path: Path,
) -> None:
    phase = algorithm_phase.phase
    phase.dataset = Dataset.objects.create(challenge=phase.challenge, slug="isles24-test", title="ISLES'24")
    phase.save()
    write_release(tmp_path / "release", cases=1, seed=7, size="small")
    isles24_import(dataset=phase.dataset, root=tmp_path / "release", split=Split.TEST)
    AlgorithmSettings.objects.filter(phase=phase).update(interface_set="isles24")
    listing = "ls /input/images; cat /input/acute-stroke-clinical-information.json; echo"
    copy_tmax = COPY_DWI.replace("dwi-brain-mri", "preprocessed-tmax-map")

    submission = _submit(
        algorithm_phase, saved_image(f"{listing}; {copy_tmax}"), django_capture_on_commit_callbacks
    )

    job = submission.jobs.get()
    case = phase.dataset.cases.get()
    *folders, clinical, last = job.stdout_tail.splitlines()
    assert submission.status == Status.SUCCEEDED, submission.error
    assert folders == sorted(image.slug for image in ISLES24.image_inputs)
    assert last == "segmenting"
    # The release's acute table, as one row; the 90-day outcome is ground truth and stays out.
    assert json.loads(clinical) == case.admission_data["demographic_baseline"]
    assert "mrs_90d" in case.outcome_data["outcome"]
    assert "mrs_90d" not in clinical
