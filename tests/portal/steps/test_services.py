"""The step engine on real rows: claims refused while a live worker holds a step, taken over once it stopped
answering, the heartbeat that shows a worker alive, and the sweeper that queues again (or gives up) the
steps of dead workers. A submission's check and evaluation and an algorithm's job are its steps here."""

import datetime
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from portal.algorithms.models import Job
from portal.steps.services import (
    ClaimRefused,
    step_claim,
    step_heartbeat,
    steps_sweep,
)
from portal.steps.tasks import steps_sweep_task
from portal.submissions.models import Submission
from portal.submissions.services import MAX_STEP_ATTEMPTS, submission_create
from portal.submissions.tasks import submission_check_task
from tests.portal.submissions.conftest import OpenPhase

Status = Submission.Status
LONG_AGO = datetime.timedelta(hours=1)


def _submitted(open_phase: OpenPhase) -> Submission:
    return submission_create(
        phase=open_phase.phase, user=open_phase.participant, upload=open_phase.upload_good()
    )


def _claimed_by_a_dead_worker(
    submission: Submission, *, attempt: int = 1, status: str = Status.CHECKING
) -> None:
    """Leave the submission as a worker killed in the middle of its step leaves it."""
    Submission.objects.filter(pk=submission.pk).update(
        status=status,
        attempt=attempt,
        claimed_by="worker-1 pid 42 claim dead",
        heartbeat_at=timezone.now() - LONG_AGO,
    )


def test_a_claim_is_refused_while_a_live_worker_holds_the_step(open_phase: OpenPhase) -> None:
    submission = _submitted(open_phase)
    first = step_claim(submission, max_attempts=3)

    second = step_claim(submission, max_attempts=3)

    assert isinstance(first, str)
    assert second is ClaimRefused.HELD
    assert (submission.attempt, submission.claimed_by) == (1, first)


def test_a_claim_whose_worker_stopped_answering_is_taken_over_until_its_attempts_are_spent(
    open_phase: OpenPhase,
) -> None:
    submission = _submitted(open_phase)
    claims = []
    for _ in range(3):
        claims.append(step_claim(submission, max_attempts=3))
        submission.heartbeat_at = timezone.now() - LONG_AGO

    assert all(isinstance(claim, str) for claim in claims)
    assert len(set(claims)) == 3
    assert step_claim(submission, max_attempts=3) is ClaimRefused.EXHAUSTED
    assert submission.attempt == 3


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_stamps_the_claimed_row_while_its_step_runs(
    open_phase: OpenPhase, settings: Settings
) -> None:
    settings.STEP_HEARTBEAT_SECONDS = 0.05
    job_like = _submitted(open_phase)
    step_claim(job_like, max_attempts=3)
    job_like.heartbeat_at = timezone.now() - LONG_AGO
    job_like.save()

    with step_heartbeat(job_like):
        time.sleep(0.5)
    stamped = Submission.objects.get(pk=job_like.pk).heartbeat_at
    time.sleep(0.2)

    assert stamped is not None
    assert timezone.now() - stamped < datetime.timedelta(seconds=1)
    assert Submission.objects.get(pk=job_like.pk).heartbeat_at == stamped  # the beats stopped with the block


def test_the_sweeper_queues_again_a_check_whose_worker_died(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    submission = _submitted(open_phase)
    _claimed_by_a_dead_worker(submission)

    with django_capture_on_commit_callbacks(execute=True):
        report = steps_sweep()

    submission.refresh_from_db()
    assert report.requeued == (f"submission check {submission.pk}",)
    # The check ran again in this process (tasks are eager here) and passed the archive on.
    assert submission.status == Status.SUCCEEDED
    assert submission.state_changes.filter(to_status=Status.SUCCEEDED).count() == 1
    assert submission.claimed_by == ""


def test_the_sweeper_leaves_a_step_whose_worker_is_alive(open_phase: OpenPhase) -> None:
    submission = _submitted(open_phase)
    Submission.objects.filter(pk=submission.pk).update(
        status=Status.CHECKING,
        attempt=1,
        claimed_by="worker-1 pid 42 claim live",
        heartbeat_at=timezone.now(),
    )

    report = steps_sweep()

    assert report.requeued == report.given_up == report.resent == ()
    assert Submission.objects.get(pk=submission.pk).claimed_by == "worker-1 pid 42 claim live"


def test_the_sweeper_gives_up_a_step_that_killed_its_workers_and_spends_no_quota(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    submission = _submitted(open_phase)
    _claimed_by_a_dead_worker(submission, attempt=MAX_STEP_ATTEMPTS, status=Status.EVALUATING)

    with django_capture_on_commit_callbacks(execute=True):
        report = steps_sweep()

    submission.refresh_from_db()
    assert report.given_up == (f"submission evaluation {submission.pk}",)
    assert submission.status == Status.FAILED
    assert "stopped answering 3 times" in submission.error
    assert "Your quota was not spent" in submission.error
    assert submission.claimed_by == ""


@pytest.mark.parametrize("kind", [Submission.Kind.ENSEMBLE, Submission.Kind.RERUN])
def test_an_organizers_own_submission_given_up_is_not_told_about_a_quota(
    open_phase: OpenPhase, kind: str, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    given_up, exhausted = _submitted(open_phase), _submitted(open_phase)
    Submission.objects.filter(pk__in=[given_up.pk, exhausted.pk]).update(kind=kind)
    _claimed_by_a_dead_worker(given_up, attempt=MAX_STEP_ATTEMPTS, status=Status.EVALUATING)
    _claimed_by_a_dead_worker(exhausted, attempt=MAX_STEP_ATTEMPTS)

    submission_check_task(submission_id=exhausted.pk)  # refuses the second with its unexpected sentence
    with django_capture_on_commit_callbacks(execute=True):
        steps_sweep()  # gives up the first with the engine's afterword

    for submission in (given_up, exhausted):
        submission.refresh_from_db()
        assert submission.status == Status.FAILED
        assert "quota" not in submission.error
        assert "organizers have been told" not in submission.error
    assert "stopped answering 3 times" in given_up.error
    assert exhausted.error == (
        "The submission check was given up after 3 attempts. An unexpected error occurred; the worker's log "
        "holds its traceback."
    )


def test_the_sweeper_sends_again_a_step_it_queued_that_no_worker_claimed(
    open_phase: OpenPhase,
    settings: Settings,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    submission = _submitted(open_phase)
    queued_at = timezone.now() - datetime.timedelta(seconds=settings.STEP_REQUEUE_AFTER_SECONDS + 60)
    Submission.objects.filter(pk=submission.pk).update(status=Status.CHECKING, heartbeat_at=queued_at)

    with django_capture_on_commit_callbacks() as callbacks:
        report = steps_sweep()

    assert report.resent == (f"submission check {submission.pk}",)
    assert len(callbacks) == 1


def test_the_sweeper_never_touches_a_step_waiting_in_the_queue_for_the_first_time(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    """A long queue (thousands of jobs of a final phase) is not sent again: only claims are watched."""
    submission = _submitted(open_phase)
    Submission.objects.filter(pk=submission.pk).update(created_at=timezone.now() - LONG_AGO)

    with django_capture_on_commit_callbacks() as callbacks:
        report = steps_sweep()

    assert report.requeued == report.resent == ()
    assert callbacks == []


def test_the_sweep_task_run_twice_queues_a_dead_workers_step_once(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    submission = _submitted(open_phase)
    _claimed_by_a_dead_worker(submission)

    with django_capture_on_commit_callbacks() as callbacks:
        steps_sweep_task()
        steps_sweep_task()

    assert len(callbacks) == 1


def test_the_sweep_task_leaves_rows_whose_steps_have_ended(
    open_phase: OpenPhase, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    submission = _submitted(open_phase)
    submission_check_task(submission_id=submission.pk)
    Submission.objects.filter(pk=submission.pk).update(
        status=Status.SUCCEEDED,
        claimed_by="worker-1 pid 42 claim dead",
        heartbeat_at=timezone.now() - LONG_AGO,
    )

    with django_capture_on_commit_callbacks() as callbacks:
        steps_sweep_task()

    assert callbacks == []
    assert Submission.objects.get(pk=submission.pk).status == Status.SUCCEEDED


def test_a_repeated_message_for_a_step_a_live_worker_holds_changes_nothing(open_phase: OpenPhase) -> None:
    submission = _submitted(open_phase)
    Submission.objects.filter(pk=submission.pk).update(
        status=Status.CHECKING, attempt=1, claimed_by="worker-2 pid 7 claim live", heartbeat_at=timezone.now()
    )

    submission_check_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert (submission.status, submission.attempt) == (Status.CHECKING, 1)
    assert submission.claimed_by == "worker-2 pid 7 claim live"


def test_the_sweeper_watches_algorithm_jobs_too() -> None:
    from portal.steps.services import steps_registered

    watched = {step.name: step for step in steps_registered()}

    assert watched["algorithm job"].model is Job
    assert {"submission check", "submission evaluation", "dataset import"} <= set(watched)


def _pid_of_an_ended_process() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_step_clears_the_scratch_a_killed_worker_of_its_host_left_and_nothing_else(
    open_phase: OpenPhase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    host, dead = socket.gethostname(), _pid_of_an_ended_process()
    left_by_killed_worker = tmp_path / f"isles-portal-step-{host}-{dead}-abc123"
    live_workers = tmp_path / f"isles-portal-step-{host}-{os.getpid()}-def456"
    other_hosts = tmp_path / f"isles-portal-step-another-host-{dead}-ghi789"
    for folder in (left_by_killed_worker, live_workers, other_hosts):
        (folder / "input").mkdir(parents=True)
    submission = _submitted(open_phase)

    submission_check_task(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.status == Status.EVALUATING  # the step ran: its check passed
    scratch = {path.name for path in tmp_path.iterdir() if path.name.startswith("isles-portal-step-")}
    assert scratch == {live_workers.name, other_hosts.name}
