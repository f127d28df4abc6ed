"""The check and evaluation tasks: happy paths, repeats that change nothing, rows in the wrong state, and
a predictions submission scored end to end on a small synthetic ISLES'24 release."""

from pathlib import Path

import pytest
import SimpleITK as sitk
from django.core import mail

from portal.challenges.models import Phase, Split
from portal.datasets.services import isles24_import
from portal.submissions.models import CaseResult, Submission
from portal.submissions.services import submission_create, submission_transition
from portal.submissions.tasks import submission_check_task, submission_evaluate_task
from releases.synthetic import write_release
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.submissions.conftest import OpenPhase, mask_bytes, upload, zip_bytes

Status = Submission.Status


def _statuses(submission: Submission) -> list[tuple[str, str]]:
    return list(submission.state_changes.order_by("at", "pk").values_list("from_status", "to_status"))


def _submitted(open_phase: OpenPhase, content: bytes | None = None) -> Submission:
    archive = open_phase.upload_good() if content is None else upload(content)
    return submission_create(phase=open_phase.phase, user=open_phase.participant, upload=archive)


def _checked(open_phase: OpenPhase) -> Submission:
    submission = _submitted(open_phase)
    submission_check_task(submission_id=submission.pk)
    return submission


def test_submission_check_task_passes_a_good_archive_on_to_evaluation(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: object
) -> None:
    submission = _submitted(open_phase)

    with django_capture_on_commit_callbacks() as callbacks:
        submission_check_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Status.EVALUATING
    assert submission.problems == []
    assert _statuses(submission) == [
        ("", Status.PENDING),
        (Status.PENDING, Status.CHECKING),
        (Status.CHECKING, Status.EVALUATING),
    ]
    assert len(callbacks) == 1


def test_submission_check_task_run_twice_changes_nothing(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: object
) -> None:
    submission = _checked(open_phase)

    with django_capture_on_commit_callbacks() as callbacks:
        submission_check_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Status.EVALUATING
    assert len(_statuses(submission)) == 3
    assert callbacks == []


def test_submission_check_task_leaves_a_cancelled_submission_alone(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: object
) -> None:
    submission = _submitted(open_phase)
    submission_transition(submission=submission, to_status=Status.CANCELLED)

    with django_capture_on_commit_callbacks() as callbacks:
        submission_check_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Status.CANCELLED
    assert callbacks == []


def test_submission_check_task_lists_every_problem_and_emails_the_creator(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: object
) -> None:
    content = zip_bytes(
        {
            "sub-stroke0100_a.nii.gz": mask_bytes(shape=(6, 5, 3)),
            "sub-stroke0100_b.nii.gz": mask_bytes(),
            "sub-stroke0999.nii.gz": mask_bytes(),
            "notes.docx": b"method",
        }
    )
    submission = _submitted(open_phase, content)

    with django_capture_on_commit_callbacks(execute=True):
        submission_check_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.problems == [
        "Case sub-stroke0100 has two files: sub-stroke0100_a.nii.gz and sub-stroke0100_b.nii.gz.",
        "notes.docx is not a mask file: use .nii.gz, .nii or .mha.",
        "sub-stroke0999.nii.gz names case sub-stroke0999, which is not one of this phase's cases.",
        "There is no mask for 1 case(s): sub-stroke0101.",
        "sub-stroke0100_a.nii.gz is 6x5x3 voxels but case sub-stroke0100 is 6x5x4.",
    ]
    assert submission.error.startswith("The archive has 5 problems; fix them and submit again")
    [email] = mail.outbox
    assert email.to == [open_phase.participant.email]
    assert "There is no mask for 1 case(s): sub-stroke0101." in email.body


def test_submission_check_task_fails_an_unsafe_archive_without_extracting_it(open_phase: OpenPhase) -> None:
    submission = _submitted(open_phase, zip_bytes({"../../sub-stroke0100.nii.gz": mask_bytes()}))

    submission_check_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.problems == ["../../sub-stroke0100.nii.gz points outside the archive with '..'."]
    assert submission.error.startswith("The archive has 1 problem; fix it and submit again")


def test_submission_evaluate_task_scores_every_case_and_emails_the_means(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: object
) -> None:
    submission = _checked(open_phase)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        submission_evaluate_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Status.SUCCEEDED
    assert submission.metrics_mean == {
        "dice": 1.0,
        "absolute_volume_difference_ml": 0.0,
        "absolute_lesion_count_difference": 0.0,
        "lesion_f1": 1.0,
    }
    assert CaseResult.objects.filter(submission=submission).count() == 2
    assert _statuses(submission)[-1] == (Status.EVALUATING, Status.SUCCEEDED)
    assert len(callbacks) == 3  # the email, the leaderboard's ranks, then their stability
    [email] = mail.outbox
    assert "was scored" in email.subject
    assert "dice 1" in email.body


def test_submission_evaluate_task_run_twice_changes_nothing(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: object
) -> None:
    submission = _checked(open_phase)
    submission_evaluate_task(submission_id=submission.pk)
    results = list(CaseResult.objects.values_list("pk", "metrics"))

    with django_capture_on_commit_callbacks() as callbacks:
        submission_evaluate_task(submission_id=submission.pk)

    assert list(CaseResult.objects.values_list("pk", "metrics")) == results
    assert len(_statuses(submission)) == 4
    assert callbacks == []


def test_submission_evaluate_task_leaves_a_pending_submission_alone(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: object
) -> None:
    submission = _submitted(open_phase)

    with django_capture_on_commit_callbacks() as callbacks:
        submission_evaluate_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Status.PENDING
    assert not CaseResult.objects.exists()
    assert callbacks == []


def test_submission_evaluate_task_keeps_results_a_dead_worker_already_recorded(open_phase: OpenPhase) -> None:
    submission = _checked(open_phase)
    earlier = CaseResult.objects.create(
        submission=submission,
        case=open_phase.cases[0],
        metrics={
            "dice": 0.5,
            "lesion_f1": 0.5,
            "absolute_volume_difference_ml": 0.0,
            "absolute_lesion_count_difference": 0.0,
            "predicted_volume_ml": 0.004,
            "reference_volume_ml": 0.004,
            "predicted_lesion_count": 1,
            "reference_lesion_count": 1,
        },
    )

    submission_evaluate_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Status.SUCCEEDED
    assert CaseResult.objects.get(pk=earlier.pk).metrics["dice"] == 0.5
    assert submission.metrics_mean["dice"] == 0.75


def test_submission_evaluate_task_waits_while_another_of_the_team_is_evaluated(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: object
) -> None:
    first = _checked(open_phase)
    second = _checked(open_phase)
    Submission.objects.filter(pk=first.pk).update(evaluation_started_at=first.created_at)

    with django_capture_on_commit_callbacks() as callbacks:
        submission_evaluate_task(submission_id=second.pk)

    second.refresh_from_db()
    assert second.status == Status.EVALUATING
    assert second.evaluation_started_at is None
    assert not CaseResult.objects.filter(submission=second).exists()
    assert len(callbacks) == 1


@pytest.mark.slow
@pytest.mark.django_db
def test_a_predictions_submission_is_scored_end_to_end_on_a_synthetic_release(
    tmp_path: Path, django_capture_on_commit_callbacks: object
) -> None:
    root = tmp_path / "release"
    names = write_release(root, cases=2, seed=7, size="small")
    phase = PhaseFactory(submission_kind=Phase.SubmissionKind.PREDICTIONS, split=Split.TEST)
    isles24_import(dataset=phase.dataset, root=root, split=Split.TEST)
    participant = ChallengeRoleFactory(challenge=phase.challenge).user
    masks = {}
    for index, name in enumerate(names):
        path = root / "derivatives" / name / "ses-02" / f"{name}_ses-02_lesion-msk.nii.gz"
        if index == 1:
            empty = sitk.ReadImage(str(path)) * 0
            path = tmp_path / f"{name}.nii.gz"
            sitk.WriteImage(empty, str(path))
        masks[f"team/{path.name}"] = path.read_bytes()

    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(phase=phase, user=participant, upload=upload(zip_bytes(masks)))

    submission.refresh_from_db()
    assert submission.status == Status.SUCCEEDED, submission.problems or submission.error
    by_case = {result.case.name: result.metrics for result in submission.case_results.select_related("case")}
    assert by_case[names[0]]["dice"] == 1.0
    assert by_case[names[1]]["dice"] == 0.0
    assert submission.metrics_mean["dice"] == 0.5
    assert [change[1] for change in _statuses(submission)] == [
        Status.PENDING,
        Status.CHECKING,
        Status.EVALUATING,
        Status.SUCCEEDED,
    ]
    assert len(mail.outbox) == 1
