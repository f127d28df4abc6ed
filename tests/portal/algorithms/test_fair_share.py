"""Jobs shared fairly between teams near a deadline (issue 18): a worker that asks for the next job gets the
job of the team with the fewest jobs running, so a team with many jobs waiting delays another team's
sanity case by at most one job per worker; a participant without a team is a team of one.

Jobs are made as rows of submissions being evaluated; a worker's claim is written as the engine writes it
(RUNNING with a claim), and "the next job" is the first of ``job_list_waiting``, the one ``job_next`` tries
first.
"""

import datetime
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from portal.accounts.models import Team, User
from portal.algorithms.models import Job
from portal.algorithms.services import job_list_waiting, job_next
from portal.celery import RowLocked
from portal.challenges.models import Phase
from portal.datasets.models import Case
from portal.submissions.models import Submission
from tests.portal.accounts.factories import TeamFactory, UserFactory
from tests.portal.algorithms.conftest import AlgorithmPhase
from tests.portal.datasets.factories import CaseFactory

NOW = timezone.now()


def _cases(algorithm_phase: AlgorithmPhase, count: int) -> list[Case]:
    return [
        CaseFactory(dataset=algorithm_phase.phase.dataset, name=f"sub-strokefair{n:03d}")
        for n in range(count)
    ]


def _submission(
    algorithm_phase: AlgorithmPhase,
    *,
    creator: User,
    team: Team | None,
    cases: list[Case],
    queued_at: datetime.datetime,
    sanity_succeeded: bool,
) -> Submission:
    """A submission being evaluated with one job per case, the first the sanity job (SUCCEEDED when
    ``sanity_succeeded``, so the others wait; otherwise the others are not made yet, as for a fresh one)."""
    submission = Submission.objects.create(
        phase=algorithm_phase.phase,
        creator=creator,
        team=team,
        kind=Phase.SubmissionKind.ALGORITHM,
        sha256="0" * 64,
        size_bytes=1,
        status=Submission.Status.EVALUATING,
    )
    Job.objects.create(
        submission=submission,
        case=cases[0],
        is_sanity=True,
        queued_at=queued_at,
        status=Job.Status.SUCCEEDED if sanity_succeeded else Job.Status.QUEUED,
    )
    if sanity_succeeded:
        Job.objects.bulk_create(
            Job(submission=submission, case=case, queued_at=queued_at + datetime.timedelta(seconds=n))
            for n, case in enumerate(cases[1:], start=1)
        )
    return submission


def _hand_out() -> Job:
    """Give the next waiting job to a worker, as the engine's claim does (the job then runs)."""
    job = job_list_waiting().select_related("submission").first()
    assert job is not None
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, claimed_by=f"worker pid {job.pk} claim x", heartbeat_at=timezone.now()
    )
    return job


def _team_of(job: Job) -> str:
    return job.submission.team.name if job.submission.team else f"user {job.submission.creator.username}"


def test_a_later_teams_sanity_case_goes_before_a_team_with_twenty_jobs_waiting(
    algorithm_phase: AlgorithmPhase,
) -> None:
    cases = _cases(algorithm_phase, 21)
    team_a, team_b = TeamFactory(name="A"), TeamFactory(name="B")
    _submission(
        algorithm_phase,
        creator=UserFactory(),
        team=team_a,
        cases=cases,
        queued_at=NOW - datetime.timedelta(hours=1),
        sanity_succeeded=True,
    )
    late = _submission(
        algorithm_phase,
        creator=UserFactory(),
        team=team_b,
        cases=cases,
        queued_at=NOW,
        sanity_succeeded=False,
    )

    assert job_list_waiting().count() == 21  # A's 20 jobs and B's sanity case
    first = _hand_out()
    assert (first.submission_id, first.is_sanity) == (late.pk, True)


def test_a_later_teams_sanity_case_goes_next_while_the_first_team_runs_a_job(
    algorithm_phase: AlgorithmPhase,
) -> None:
    cases = _cases(algorithm_phase, 21)
    team_a = TeamFactory(name="A")
    _submission(
        algorithm_phase,
        creator=UserFactory(),
        team=team_a,
        cases=cases,
        queued_at=NOW - datetime.timedelta(hours=1),
        sanity_succeeded=True,
    )
    assert _hand_out().submission.team == team_a  # one worker runs one of A's 20 jobs
    late = _submission(
        algorithm_phase,
        creator=UserFactory(),
        team=TeamFactory(name="B"),
        cases=cases,
        queued_at=NOW,
        sanity_succeeded=True,
    )

    assert _hand_out().submission == late


def test_handouts_alternate_between_teams_whatever_their_numbers_of_jobs(
    algorithm_phase: AlgorithmPhase,
) -> None:
    cases = _cases(algorithm_phase, 21)
    team_a, team_b = TeamFactory(name="A"), TeamFactory(name="B")
    # Team A: two submissions by two members, 20 jobs each; team B: one submission of 3 jobs, later.
    for member in (UserFactory(), UserFactory()):
        _submission(
            algorithm_phase,
            creator=member,
            team=team_a,
            cases=cases,
            queued_at=NOW - datetime.timedelta(hours=1),
            sanity_succeeded=True,
        )
    _submission(
        algorithm_phase,
        creator=UserFactory(),
        team=team_b,
        cases=cases[:4],
        queued_at=NOW,
        sanity_succeeded=True,
    )

    teams = [_team_of(_hand_out()) for _ in range(8)]

    assert teams == ["A", "B", "A", "B", "A", "B", "A", "A"]  # B had 3 jobs


def test_a_participant_without_a_team_is_a_team_of_one(algorithm_phase: AlgorithmPhase) -> None:
    cases = _cases(algorithm_phase, 5)
    team_a = TeamFactory(name="A")
    alone, also_alone = UserFactory(username="alone"), UserFactory(username="also-alone")
    _submission(
        algorithm_phase,
        creator=UserFactory(),
        team=team_a,
        cases=cases,
        queued_at=NOW - datetime.timedelta(hours=2),
        sanity_succeeded=True,
    )
    # Two submissions of the same participant without a team count as one team, not two.
    for minutes in (60, 50):
        _submission(
            algorithm_phase,
            creator=alone,
            team=None,
            cases=cases,
            queued_at=NOW - datetime.timedelta(minutes=minutes),
            sanity_succeeded=True,
        )
    _submission(
        algorithm_phase, creator=also_alone, team=None, cases=cases, queued_at=NOW, sanity_succeeded=True
    )

    teams = [_team_of(_hand_out()) for _ in range(6)]

    assert teams == ["A", "user alone", "user also-alone", "A", "user alone", "user also-alone"]


def test_the_sanity_case_goes_first_within_a_team(algorithm_phase: AlgorithmPhase) -> None:
    cases = _cases(algorithm_phase, 4)
    team_a = TeamFactory(name="A")
    _submission(
        algorithm_phase,
        creator=UserFactory(),
        team=team_a,
        cases=cases,
        queued_at=NOW - datetime.timedelta(hours=1),
        sanity_succeeded=True,
    )
    newer = _submission(
        algorithm_phase,
        creator=UserFactory(),
        team=team_a,
        cases=cases,
        queued_at=NOW,
        sanity_succeeded=False,
    )

    first = _hand_out()

    assert (first.submission_id, first.is_sanity) == (newer.pk, True)


@pytest.mark.django_db(transaction=True)
def test_a_worker_asking_while_another_claims_the_only_waiting_job_asks_again_later(
    algorithm_phase: AlgorithmPhase,
) -> None:
    """Two workers asking at once: while one holds the lock of the job it is claiming (its submission's,
    taken first), the other skips it and, having found nothing else, raises ``RowLocked`` so that its
    message is retried rather than lost; the job stays waiting for the first."""
    submission = _submission(
        algorithm_phase,
        creator=algorithm_phase.participant,
        team=None,
        cases=_cases(algorithm_phase, 1),
        queued_at=NOW,
        sanity_succeeded=False,
    )
    locked, release = threading.Event(), threading.Event()

    def first_worker() -> None:
        try:
            with transaction.atomic():
                Submission.objects.select_for_update().get(pk=submission.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=first_worker)
    thread.start()
    try:
        assert locked.wait(timeout=30)
        with pytest.raises(RowLocked):
            job_next()
    finally:
        release.set()
        thread.join()

    job = submission.jobs.get()
    assert (job.status, job.claimed_by, job.attempt) == (Job.Status.QUEUED, "", 0)
    assert list(job_list_waiting()) == [job]
