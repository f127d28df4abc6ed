"""A phase scored on a named ground-truth version: switching it re-scores the phase's submissions, keeps
the scores on the earlier version, rebuilds the leaderboard, and only organizers may do it."""

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Split
from portal.datasets.models import GroundTruthVersion
from portal.datasets.services import ground_truth_version_create
from portal.leaderboards.models import LeaderboardEntry
from portal.submissions.models import CaseResult, Rescoring, Submission
from portal.submissions.selectors import submission_case_result_list
from portal.submissions.services import (
    OverlapLabel,
    phase_ground_truth_version_set,
    submission_case_overlap_label,
    submission_create,
    submission_transition,
)
from portal.submissions.tasks import rescoring_run_task, submission_check_task, submission_evaluate_task
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.datasets.factories import CaseFactory, ImageFactory
from tests.portal.submissions.conftest import SHAPE, SPACING_MM, OpenPhase
from tests.portal.submissions.review_world import label_counts

Status = Submission.Status


@pytest.fixture
def organizer(open_phase: OpenPhase) -> User:
    return ChallengeRoleFactory(
        challenge=open_phase.phase.challenge, role=ChallengeRole.Role.ORGANIZER, user__username="organizer"
    ).user


def _moved_lesion(tmp_path: Path) -> Path:
    """A mask on the cases' grid whose 2x2x2 lesion lies away from the corner the predictions mark."""
    voxels = np.zeros(tuple(reversed(SHAPE)), dtype=np.uint8)
    voxels[2:4, 3:5, 4:6] = 1
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing(SPACING_MM)
    path = tmp_path / "corrected.nii.gz"
    sitk.WriteImage(image, str(path))
    return path


def _corrected_version(open_phase: OpenPhase, tmp_path: Path, organizer: User) -> GroundTruthVersion:
    """Version 2: case sub-stroke0100's lesion moved, sub-stroke0101's carried over."""
    return ground_truth_version_create(
        dataset=open_phase.phase.dataset,
        masks={"sub-stroke0100": _moved_lesion(tmp_path)},
        note="Consensus of three neuroradiologists",
        source=GroundTruthVersion.Source.CONSENSUS,
        created_by=organizer,
    )


def _scored(open_phase: OpenPhase) -> Submission:
    """A submission whose masks equal version 1 of the ground truth, checked and scored on it."""
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )
    submission_check_task(submission_id=submission.pk)
    submission_evaluate_task(submission_id=submission.pk)
    submission.refresh_from_db()
    assert submission.status == Status.SUCCEEDED
    return submission


def _dice_by_version(submission: Submission) -> dict[tuple[int, str], float]:
    return {
        (result.ground_truth_version, result.case.name): result.metrics["dice"]
        for result in CaseResult.objects.filter(submission=submission).select_related("case")
    }


def test_switching_the_version_rescores_the_phase_and_keeps_the_old_scores(
    open_phase: OpenPhase, organizer: User, tmp_path: Path, django_capture_on_commit_callbacks: object
) -> None:
    submission = _scored(open_phase)
    version = _corrected_version(open_phase, tmp_path, organizer)

    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version.number, user=organizer)

    open_phase.phase.refresh_from_db()
    submission.refresh_from_db()
    assert open_phase.phase.ground_truth_version == 2
    assert _dice_by_version(submission) == {
        (1, "sub-stroke0100"): 1.0,
        (1, "sub-stroke0101"): 1.0,
        (2, "sub-stroke0100"): 0.0,
        (2, "sub-stroke0101"): 1.0,
    }
    assert submission.metrics_mean["dice"] == pytest.approx(0.5)
    assert [result.metrics["dice"] for result in submission_case_result_list(submission=submission)] == [
        0.0,
        1.0,
    ]
    entry = LeaderboardEntry.objects.get(phase=open_phase.phase, submission=submission)
    assert entry.metrics["dice"]["mean"] == pytest.approx(0.5)


def test_switching_back_reads_the_kept_scores_without_scoring_again(
    open_phase: OpenPhase, organizer: User, tmp_path: Path, django_capture_on_commit_callbacks: object
) -> None:
    submission = _scored(open_phase)
    version = _corrected_version(open_phase, tmp_path, organizer)
    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version.number, user=organizer)
    results = list(CaseResult.objects.order_by("pk").values_list("pk", "metrics"))

    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=1, user=organizer)

    submission.refresh_from_db()
    assert list(CaseResult.objects.order_by("pk").values_list("pk", "metrics")) == results
    assert submission.metrics_mean["dice"] == 1.0
    entry = LeaderboardEntry.objects.get(phase=open_phase.phase, submission=submission)
    assert entry.metrics["dice"]["mean"] == 1.0


def test_the_review_overlap_compares_the_mask_with_the_phase_version(
    open_phase: OpenPhase, organizer: User, tmp_path: Path, django_capture_on_commit_callbacks: object
) -> None:
    submission = _scored(open_phase)
    case = open_phase.cases[0]
    before = label_counts(submission_case_overlap_label(submission=submission, case=case))
    version = _corrected_version(open_phase, tmp_path, organizer)
    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version.number, user=organizer)
    submission.phase.refresh_from_db()

    after = label_counts(submission_case_overlap_label(submission=submission, case=case))

    assert before[OverlapLabel.TRUE_POSITIVE] == 8
    assert OverlapLabel.TRUE_POSITIVE not in after
    assert (after[OverlapLabel.FALSE_POSITIVE], after[OverlapLabel.FALSE_NEGATIVE]) == (8, 8)


def test_a_rescoring_run_twice_duplicates_nothing(
    open_phase: OpenPhase, organizer: User, tmp_path: Path, django_capture_on_commit_callbacks: object
) -> None:
    submission = _scored(open_phase)
    version = _corrected_version(open_phase, tmp_path, organizer)
    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version.number, user=organizer)
    results = list(CaseResult.objects.order_by("pk").values_list("pk", "ground_truth_version", "metrics"))
    means = Submission.objects.get(pk=submission.pk).metrics_mean
    rescoring = Rescoring.objects.get()
    assert (rescoring.status, rescoring.submissions_rescored) == ("SUCCEEDED", 1)

    rescoring_run_task(rescoring_id=rescoring.pk)
    Rescoring.objects.filter(pk=rescoring.pk).update(status="QUEUED")  # a message that came again too early
    rescoring_run_task(rescoring_id=rescoring.pk)

    assert (
        list(CaseResult.objects.order_by("pk").values_list("pk", "ground_truth_version", "metrics"))
        == results
    )
    assert Submission.objects.get(pk=submission.pk).metrics_mean == means


def test_a_rescoring_leaves_submissions_that_were_not_scored_alone(
    open_phase: OpenPhase, organizer: User, tmp_path: Path
) -> None:
    cancelled = submission_create(
        phase=open_phase.phase, user=open_phase.loner, upload=open_phase.upload_good()
    )
    submission_transition(submission=cancelled, to_status=Status.CANCELLED)
    open_phase.phase.ground_truth_version = _corrected_version(open_phase, tmp_path, organizer).number
    open_phase.phase.save()
    rescoring = Rescoring.objects.create(
        phase=open_phase.phase, ground_truth_version=open_phase.phase.ground_truth_version
    )

    rescoring_run_task(rescoring_id=rescoring.pk)
    rescoring_run_task(rescoring_id=0)  # a re-scoring whose phase was deleted

    assert not CaseResult.objects.exists()
    rescoring.refresh_from_db()
    assert (rescoring.status, rescoring.submissions_rescored) == ("SUCCEEDED", 0)


def test_a_submission_evaluated_after_the_switch_is_scored_on_the_new_version_only(
    open_phase: OpenPhase, organizer: User, tmp_path: Path, django_capture_on_commit_callbacks: object
) -> None:
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )
    submission_check_task(submission_id=submission.pk)
    version = _corrected_version(open_phase, tmp_path, organizer)
    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version.number, user=organizer)

    submission_evaluate_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Status.SUCCEEDED
    assert set(_dice_by_version(submission)) == {(2, "sub-stroke0100"), (2, "sub-stroke0101")}
    assert submission.metrics_mean["dice"] == pytest.approx(0.5)


def test_only_an_organizer_switches_the_version(
    open_phase: OpenPhase, organizer: User, tmp_path: Path
) -> None:
    version = _corrected_version(open_phase, tmp_path, organizer)

    for user in (open_phase.participant, ChallengeRoleFactory(role=ChallengeRole.Role.ORGANIZER).user):
        with pytest.raises(PermissionDenied, match="Only an organizer of the challenge"):
            phase_ground_truth_version_set(phase=open_phase.phase, version=version.number, user=user)

    open_phase.phase.refresh_from_db()
    assert open_phase.phase.ground_truth_version == 1


def test_a_version_the_dataset_lacks_is_refused_with_a_sentence(
    open_phase: OpenPhase, organizer: User
) -> None:
    with pytest.raises(ValidationError, match="has no ground-truth version 7; pick one of its versions"):
        phase_ground_truth_version_set(phase=open_phase.phase, version=7, user=organizer)


def test_a_version_without_a_mask_for_every_case_of_the_phase_is_refused(
    open_phase: OpenPhase, organizer: User, tmp_path: Path
) -> None:
    unlabelled = CaseFactory(dataset=open_phase.phase.dataset, name="sub-stroke0102", split=Split.TEST)
    ImageFactory(case=unlabelled, shape=list(SHAPE), spacing_mm=list(SPACING_MM))
    version = _corrected_version(open_phase, tmp_path, organizer)

    with pytest.raises(ValidationError, match=r"no mask for 1 case\(s\) of this phase \(sub-stroke0102\)"):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version.number, user=organizer)


def test_choosing_the_current_version_changes_nothing(
    open_phase: OpenPhase, organizer: User, tmp_path: Path, django_capture_on_commit_callbacks: object
) -> None:
    _corrected_version(open_phase, tmp_path, organizer)

    with django_capture_on_commit_callbacks() as callbacks:
        phase_ground_truth_version_set(phase=open_phase.phase, version=1, user=organizer)

    assert callbacks == []


def _api(user: User) -> Client:
    token, _ = Token.objects.get_or_create(user=user)
    return Client(headers={"authorization": f"Token {token.key}"})


def test_an_organizer_reads_a_submission_scores_on_every_version_and_the_team_does_not(
    open_phase: OpenPhase, organizer: User, tmp_path: Path, django_capture_on_commit_callbacks: object
) -> None:
    submission = _scored(open_phase)
    version = _corrected_version(open_phase, tmp_path, organizer)
    with django_capture_on_commit_callbacks(execute=True):
        phase_ground_truth_version_set(phase=open_phase.phase, version=version.number, user=organizer)
    url = reverse("api:submission-detail", kwargs={"pk": submission.pk})

    seen = _api(organizer).get(url).json()
    hidden = _api(open_phase.participant).get(url).json()

    assert [
        (row["ground_truth_version"], row["is_current"], row["cases"], row["metrics_mean"]["dice"])
        for row in seen["scores_by_version"]
    ] == [(1, False, 2, 1.0), (2, True, 2, 0.5)]
    assert seen["metrics_mean"]["dice"] == 0.5
    assert hidden["scores_by_version"] is None
