"""Creating submissions under the phase's rules and limits, and the state machine's record of changes."""

import datetime

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone

from portal.accounts.models import ChallengeRole
from portal.submissions.exceptions import InvalidTransition, SubmissionRefused
from portal.submissions.models import Submission, SubmissionStateChange
from portal.submissions.services import submission_create, submission_transition
from tests.portal.accounts.factories import ChallengeRoleFactory, UserFactory
from tests.portal.submissions.conftest import OpenPhase

Status = Submission.Status


def _refusal(open_phase: OpenPhase, user: object) -> SubmissionRefused:
    with pytest.raises(SubmissionRefused) as caught:
        submission_create(phase=open_phase.phase, user=user, upload=open_phase.upload_good())
    return caught.value


def test_submission_create_stores_the_upload_and_queues_its_checks(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: object
) -> None:
    upload = open_phase.upload_good()
    content = upload.read()

    with django_capture_on_commit_callbacks() as callbacks:
        submission = submission_create(phase=open_phase.phase, user=open_phase.participant, upload=upload)

    submission.refresh_from_db()
    assert submission.status == Status.PENDING
    assert submission.team == open_phase.team
    assert submission.size_bytes == len(content)
    assert submission.file.name.endswith(f"{submission.sha256}.zip")
    with submission.file.open("rb") as stored:
        assert stored.read() == content
    assert list(submission.state_changes.values_list("from_status", "to_status")) == [("", Status.PENDING)]
    assert len(callbacks) == 1


def test_submission_create_refuses_after_the_team_daily_limit(open_phase: OpenPhase) -> None:
    submission_create(phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good())
    submission_create(phase=open_phase.phase, user=open_phase.teammate, upload=open_phase.upload_good())

    refusal = _refusal(open_phase, open_phase.participant)

    assert refusal.code == "daily_limit"
    assert refusal.messages == [
        "Your team has used its 2 submissions for today; the next one is possible after 00:00 UTC."
    ]
    assert Submission.objects.count() == 2


def test_submission_create_counts_yesterday_toward_the_total_limit_only(open_phase: OpenPhase) -> None:
    for _ in range(2):
        submission_create(phase=open_phase.phase, user=open_phase.loner, upload=open_phase.upload_good())
    Submission.objects.update(created_at=timezone.now() - datetime.timedelta(days=1))
    submission_create(phase=open_phase.phase, user=open_phase.loner, upload=open_phase.upload_good())

    refusal = _refusal(open_phase, open_phase.loner)

    assert refusal.code == "total_limit"
    assert refusal.messages == ["You have used all 3 submissions of this phase."]


def test_submission_create_does_not_count_failed_or_cancelled_submissions(open_phase: OpenPhase) -> None:
    for _ in range(2):
        submission_create(phase=open_phase.phase, user=open_phase.loner, upload=open_phase.upload_good())
    first, second = Submission.objects.order_by("pk")
    Submission.objects.filter(pk=first.pk).update(status=Status.FAILED)
    Submission.objects.filter(pk=second.pk).update(status=Status.CANCELLED)

    submission_create(phase=open_phase.phase, user=open_phase.loner, upload=open_phase.upload_good())

    assert Submission.objects.filter(creator=open_phase.loner).count() == 3


def test_submission_create_counts_a_loner_apart_from_the_team(open_phase: OpenPhase) -> None:
    for _ in range(2):
        submission_create(
            phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
        )

    submission = submission_create(
        phase=open_phase.phase, user=open_phase.loner, upload=open_phase.upload_good()
    )

    assert submission.team is None


def test_submission_create_refuses_someone_who_has_not_joined(open_phase: OpenPhase) -> None:
    refusal = _refusal(open_phase, UserFactory())

    assert refusal.code == "not_participant"
    assert refusal.messages == ["Join the challenge before you submit to it."]
    assert not Submission.objects.exists()


def test_a_first_submission_waits_for_a_confirmed_email_address(open_phase: OpenPhase) -> None:
    newcomer = ChallengeRoleFactory(
        challenge=open_phase.phase.challenge,
        role=ChallengeRole.Role.PARTICIPANT,
        user__email="newcomer@example.org",
        user__email_verified=False,
    ).user

    refusal = _refusal(open_phase, newcomer)
    assert refusal.code == "email_unverified"
    assert refusal.messages == [
        "Confirm your e-mail address before your first submission: follow the link we sent to "
        "newcomer@example.org, or ask for a new one at /accounts/email/."
    ]
    assert not Submission.objects.exists()

    EmailAddress.objects.create(user=newcomer, email=newcomer.email, verified=True, primary=True)
    submission_create(phase=open_phase.phase, user=newcomer, upload=open_phase.upload_good())
    assert Submission.objects.filter(creator=newcomer).count() == 1


def test_someone_who_submitted_before_email_confirmation_existed_keeps_submitting(
    open_phase: OpenPhase,
) -> None:
    veteran = open_phase.loner
    submission_create(phase=open_phase.phase, user=veteran, upload=open_phase.upload_good())
    EmailAddress.objects.filter(user=veteran).delete()

    submission_create(phase=open_phase.phase, user=veteran, upload=open_phase.upload_good())

    assert Submission.objects.filter(creator=veteran).count() == 2


def test_submission_create_refuses_a_closed_phase(open_phase: OpenPhase) -> None:
    open_phase.phase.closes_at = timezone.now() - datetime.timedelta(minutes=1)
    open_phase.phase.opens_at = timezone.now() - datetime.timedelta(days=2)
    open_phase.phase.save()

    refusal = _refusal(open_phase, open_phase.participant)

    assert refusal.code == "phase_closed"
    assert refusal.messages == ["This phase does not take submissions now."]


def test_submission_create_refuses_an_archive_in_an_algorithm_phase(open_phase: OpenPhase) -> None:
    open_phase.phase.submission_kind = open_phase.phase.SubmissionKind.ALGORITHM
    open_phase.phase.save()

    assert _refusal(open_phase, open_phase.participant).code == "wrong_kind"


def test_submission_create_stores_the_same_bytes_once(open_phase: OpenPhase) -> None:
    first = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )
    second = submission_create(
        phase=open_phase.phase, user=open_phase.teammate, upload=open_phase.upload_good()
    )

    assert first.file.name == second.file.name


def test_submission_transition_records_each_change_with_its_time(open_phase: OpenPhase) -> None:
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )
    before = timezone.now()

    submission_transition(submission=submission, to_status=Status.CHECKING)
    submission_transition(submission=submission, to_status=Status.CANCELLED, note="Withdrawn by the team.")

    changes = list(SubmissionStateChange.objects.filter(submission=submission).order_by("at", "pk"))
    assert [(change.from_status, change.to_status) for change in changes] == [
        ("", Status.PENDING),
        (Status.PENDING, Status.CHECKING),
        (Status.CHECKING, Status.CANCELLED),
    ]
    assert all(change.at >= before for change in changes[1:])
    assert changes[-1].note == "Withdrawn by the team."


def test_submission_transition_refuses_a_change_the_state_machine_does_not_allow(
    open_phase: OpenPhase,
) -> None:
    submission = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )

    with pytest.raises(InvalidTransition):
        submission_transition(submission=submission, to_status=Status.SUCCEEDED)

    submission.refresh_from_db()
    assert submission.status == Status.PENDING
    assert submission.state_changes.count() == 1
