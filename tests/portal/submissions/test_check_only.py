"""Check-only tries of a predictions archive: every check of a real submission, the same sentences, then
CHECKED; never scored, never on the leaderboard, not counted toward the phase's limits, and capped on
their own."""

import datetime
from collections.abc import Callable

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.accounts.models import User
from portal.leaderboards.models import LeaderboardEntry
from portal.leaderboards.services import leaderboard_rebuild
from portal.storage import private_storage
from portal.submissions.exceptions import InvalidTransition, SubmissionRefused
from portal.submissions.models import CaseResult, Submission
from portal.submissions.selectors import submission_list_counted
from portal.submissions.services import CHECK_ONLY_DAILY_LIMIT, submission_create, submission_transition
from portal.submissions.tasks import submission_check_task, submission_evaluate_task
from tests.portal.submissions.conftest import OpenPhase, mask_bytes, upload, zip_bytes

Status = Submission.Status
CHECK_ONLY = "Check only: not scored, not counted."

BROKEN = {
    "sub-stroke0100.nii.gz": mask_bytes(shape=(6, 5, 3)),
    "sub-stroke0101.nii.gz": mask_bytes(),
}


def _try(open_phase: OpenPhase, user: User, content: bytes | None = None) -> Submission:
    archive = open_phase.upload_good() if content is None else upload(content)
    return submission_create(phase=open_phase.phase, user=user, upload=archive, check_only=True)


def _checked(submission: Submission, capture: Callable[..., object]) -> Submission:
    with capture(execute=True):  # type: ignore[attr-defined]  # pytest-django's fixture is a context manager
        submission_check_task(submission_id=submission.pk)
    submission.refresh_from_db()
    return submission


def _statuses(submission: Submission) -> list[tuple[str, str]]:
    return list(submission.state_changes.order_by("at", "pk").values_list("from_status", "to_status"))


def _counted(open_phase: OpenPhase) -> int:
    return submission_list_counted(
        phase=open_phase.phase, team=open_phase.team, user=open_phase.participant
    ).count()


def _page(user: User, submission: Submission) -> str:
    client = Client()
    client.force_login(user)
    answer = client.get(reverse("submission-detail", args=[submission.pk]))
    assert answer.status_code == 200
    return " ".join(answer.content.decode().split())


def test_a_check_only_try_with_a_broken_mask_gets_a_real_submissions_sentences_and_does_not_count(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    real = _checked(
        submission_create(phase=open_phase.phase, user=open_phase.loner, upload=upload(zip_bytes(BROKEN))),
        django_capture_on_commit_callbacks,
    )

    attempt = _checked(
        _try(open_phase, open_phase.participant, zip_bytes(BROKEN)), django_capture_on_commit_callbacks
    )

    assert attempt.status == Status.FAILED
    assert (
        attempt.problems
        == real.problems
        == ["sub-stroke0100.nii.gz is 6x5x3 voxels but case sub-stroke0100 is 6x5x4."]
    )
    assert _counted(open_phase) == 0
    assert mail.outbox[-1].subject == f"Your check-only try {attempt.pk} to {open_phase.phase.title} failed"
    assert CHECK_ONLY in mail.outbox[-1].body
    page = _page(open_phase.participant, attempt)
    assert CHECK_ONLY in page
    assert "sub-stroke0100.nii.gz is 6x5x3 voxels but case sub-stroke0100 is 6x5x4." in page


def test_a_valid_check_only_try_ends_checked_unscored_and_keeps_nothing(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    attempt = _try(open_phase, open_phase.participant)
    name = attempt.file.name

    attempt = _checked(attempt, django_capture_on_commit_callbacks)

    assert attempt.status == Status.CHECKED
    assert _statuses(attempt) == [
        ("", Status.PENDING),
        (Status.PENDING, Status.CHECKING),
        (Status.CHECKING, Status.CHECKED),
    ]
    assert attempt.state_changes.last().note == f"Checks passed. {CHECK_ONLY}"
    assert attempt.problems == []
    assert attempt.metrics_mean == {}
    assert not CaseResult.objects.filter(submission=attempt).exists()
    assert attempt.file.name == ""
    assert not private_storage().exists(name)
    assert mail.outbox[-1].subject.endswith("passed every check")
    assert CHECK_ONLY in mail.outbox[-1].body
    page = _page(open_phase.participant, attempt)
    assert f"Submission {attempt.pk}: Checked (not scored)" in page
    assert f"{CHECK_ONLY} It passed every check a real submission gets." in page
    assert "Select as final" not in page


def test_a_check_only_try_is_never_evaluated_even_if_its_evaluation_is_queued(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    attempt = _try(open_phase, open_phase.participant)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[attr-defined]
        submission_check_task(submission_id=attempt.pk)
        submission_evaluate_task(submission_id=attempt.pk)

    attempt.refresh_from_db()
    assert attempt.status == Status.CHECKED
    assert not CaseResult.objects.filter(submission=attempt).exists()


def test_the_state_machine_keeps_a_try_from_being_scored_and_a_submission_from_ending_checked(
    open_phase: OpenPhase,
) -> None:
    attempt = _try(open_phase, open_phase.participant)
    real = submission_create(phase=open_phase.phase, user=open_phase.loner, upload=open_phase.upload_good())
    for submission in (attempt, real):
        submission_transition(submission=submission, to_status=Status.CHECKING)
    submission_transition(submission=attempt, to_status=Status.EVALUATING)
    submission_transition(submission=real, to_status=Status.EVALUATING)

    with pytest.raises(InvalidTransition):
        submission_transition(submission=attempt, to_status=Status.SUCCEEDED)
    with pytest.raises(InvalidTransition):
        submission_transition(submission=real, to_status=Status.CHECKED)


def test_a_check_only_try_is_not_on_the_leaderboard_and_every_real_submission_is_still_possible(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    for _ in range(CHECK_ONLY_DAILY_LIMIT):
        _checked(_try(open_phase, open_phase.participant), django_capture_on_commit_callbacks)

    # The phase takes 2 submissions a day: both are still the team's.
    real = [
        submission_create(phase=open_phase.phase, user=user, upload=open_phase.upload_good())
        for user in (open_phase.participant, open_phase.teammate)
    ]
    for submission in real:
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[attr-defined]
            submission_check_task(submission_id=submission.pk)
            submission_evaluate_task(submission_id=submission.pk)
    leaderboard_rebuild(phase=open_phase.phase)

    assert Submission.objects.filter(check_only=True, status=Status.CHECKED).count() == CHECK_ONLY_DAILY_LIMIT
    assert [Submission.objects.get(pk=s.pk).status for s in real] == [Status.SUCCEEDED] * 2
    assert set(LeaderboardEntry.objects.values_list("submission_id", flat=True)) <= {s.pk for s in real}
    assert LeaderboardEntry.objects.exists()
    assert _counted(open_phase) == 2


def test_check_only_tries_have_their_own_daily_cap_for_the_team(open_phase: OpenPhase) -> None:
    _try(open_phase, open_phase.teammate)
    for _ in range(CHECK_ONLY_DAILY_LIMIT - 1):
        _try(open_phase, open_phase.participant)

    with pytest.raises(SubmissionRefused) as refusal:
        _try(open_phase, open_phase.participant)

    assert refusal.value.code == "check_only_limit"
    assert refusal.value.messages == [
        f"Your team has used its {CHECK_ONLY_DAILY_LIMIT} check-only tries of this phase for today; the next "
        "one is possible after 00:00 UTC, and real submissions are not affected."
    ]
    assert Submission.objects.filter(check_only=True).count() == CHECK_ONLY_DAILY_LIMIT
    real = submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )
    assert not real.check_only


def test_yesterdays_check_only_tries_leave_todays_cap_whole(open_phase: OpenPhase) -> None:
    for _ in range(CHECK_ONLY_DAILY_LIMIT):
        _try(open_phase, open_phase.loner)
    Submission.objects.update(created_at=timezone.now() - datetime.timedelta(days=1))

    today = [_try(open_phase, open_phase.loner) for _ in range(CHECK_ONLY_DAILY_LIMIT)]

    assert all(attempt.check_only for attempt in today)
    with pytest.raises(SubmissionRefused) as refusal:
        _try(open_phase, open_phase.loner)
    assert refusal.value.messages[0].startswith(
        f"You have used your {CHECK_ONLY_DAILY_LIMIT} check-only tries of this phase for today"
    )


def test_a_check_only_try_is_refused_where_a_submission_would_be(open_phase: OpenPhase) -> None:
    open_phase.phase.closes_at = timezone.now() - datetime.timedelta(minutes=1)
    open_phase.phase.opens_at = timezone.now() - datetime.timedelta(days=2)
    open_phase.phase.save()

    with pytest.raises(SubmissionRefused) as refusal:
        _try(open_phase, open_phase.participant)

    assert refusal.value.code == "phase_closed"


def test_the_api_takes_a_check_only_try_and_says_it_is_one(open_phase: OpenPhase) -> None:
    client = Client()
    client.force_login(open_phase.participant)
    url = reverse("api:phase-submissions", args=[open_phase.phase.slug])

    answer = client.post(url, {"file": open_phase.upload_good(), "check_only": "true"})
    plain = client.post(url, {"file": open_phase.upload_good()})

    assert answer.status_code == 201, answer.content
    assert answer.json()["check_only"] is True
    assert plain.json()["check_only"] is False
    assert answer.json()["state_changes"][0]["note"] == f"Uploaded. {CHECK_ONLY}"
    listed = {row["id"]: row["check_only"] for row in client.get(url).json()}
    assert listed == {answer.json()["id"]: True, plain.json()["id"]: False}


def test_the_upload_form_has_a_check_only_box_that_makes_a_try(open_phase: OpenPhase) -> None:
    client = Client()
    client.force_login(open_phase.participant)
    url = reverse("phase-submissions", args=[open_phase.phase.slug])

    form = " ".join(client.get(url).content.decode().split())
    answer = client.post(url, {"file": open_phase.upload_good(), "check_only": "on"}, follow=True)

    assert "Check only (not scored, not counted)" in form
    assert f"{CHECK_ONLY_DAILY_LIMIT} such tries per UTC day" in form
    attempt = Submission.objects.get()
    assert attempt.check_only
    text = " ".join(answer.content.decode().split())
    assert f"Check-only try {attempt.pk} was received; it is checked now." in text
    assert '<span class="badge check-only">Check only</span>' in text
