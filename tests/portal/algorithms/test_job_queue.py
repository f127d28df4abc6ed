"""The job queue of an algorithm phase as its organizers watch it near a deadline (issue 18): jobs waiting,
jobs running, and the 95th percentile of how long the jobs a worker took in the last 24 hours waited, on
the organizer's dashboard. Jobs are rows made with known times."""

import datetime

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.algorithms.models import Job
from portal.algorithms.selectors import PhaseJobQueue, phase_job_queues
from portal.challenges.models import Phase
from portal.submissions.models import Submission
from tests.portal.algorithms.conftest import AlgorithmPhase
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.datasets.factories import CaseFactory

Status = Job.Status


def _submission(phase: Phase, algorithm_phase: AlgorithmPhase, status: str) -> Submission:
    return Submission.objects.create(
        phase=phase,
        creator=algorithm_phase.participant,
        kind=Phase.SubmissionKind.ALGORITHM,
        sha256="0" * 64,
        size_bytes=1,
        status=status,
    )


def _job(submission: Submission, name: str, **fields: object) -> Job:
    case = CaseFactory(dataset=submission.phase.dataset, name=name)
    return Job.objects.create(submission=submission, case=case, **fields)


def _queue_made(algorithm_phase: AlgorithmPhase) -> Phase:
    """On the fixture's phase: 20 jobs a worker took an hour ago after waiting 1 to 20 s, one it took 25 h
    ago after 1000 s (too old to count), 3 QUEUED and 1 let go after a 3600 s wait (waiting), 2 claimed
    after 300 s (running) and a QUEUED job of a cancelled submission (not waiting). Another algorithm phase
    has one job waiting."""
    phase = algorithm_phase.phase
    now = timezone.now()
    evaluating = _submission(phase, algorithm_phase, Submission.Status.EVALUATING)
    taken = now - datetime.timedelta(hours=1)
    for wait_s in range(1, 21):
        _job(
            evaluating,
            f"sub-strokewait{wait_s:03d}",
            status=Status.SUCCEEDED,
            queued_at=taken - datetime.timedelta(seconds=wait_s),
            started_at=taken,
        )
    long_ago = now - datetime.timedelta(hours=25)
    _job(
        evaluating,
        "sub-strokeold",
        status=Status.SUCCEEDED,
        queued_at=long_ago - datetime.timedelta(seconds=1000),
        started_at=long_ago,
    )
    for n in range(3):
        _job(evaluating, f"sub-strokequeued{n}", status=Status.QUEUED)
    _job(
        evaluating,
        "sub-strokelet-go",
        status=Status.RUNNING,
        claimed_by="",
        queued_at=taken - datetime.timedelta(hours=1),
        started_at=taken,
    )
    for n in range(2):
        _job(
            evaluating,
            f"sub-strokerunning{n}",
            status=Status.RUNNING,
            claimed_by=f"gpu-{n} pid 1 claim x",
            heartbeat_at=now,
            queued_at=now - datetime.timedelta(minutes=10),
            started_at=now - datetime.timedelta(minutes=5),
        )
    cancelled = _submission(phase, algorithm_phase, Submission.Status.CANCELLED)
    _job(cancelled, "sub-strokecancelled", status=Status.QUEUED)
    other = PhaseFactory(
        challenge=phase.challenge, submission_kind=Phase.SubmissionKind.ALGORITHM, slug="other", title="Other"
    )
    _job(_submission(other, algorithm_phase, Submission.Status.EVALUATING), "sub-strokeother")
    return other


def test_a_phases_queue_counts_waiting_and_running_jobs_and_the_p95_wait_of_the_last_day(
    algorithm_phase: AlgorithmPhase,
) -> None:
    other = _queue_made(algorithm_phase)
    queues = phase_job_queues(phase_ids=[algorithm_phase.phase.pk, other.pk])

    phase_queue = queues[algorithm_phase.phase.pk]
    assert (phase_queue.waiting, phase_queue.running) == (4, 2)
    # 23 waits (the 20, the one let go and the 2 running; not the old one): 1..20, 300, 300 and 3600 s,
    # whose 22nd (the nearest rank of 95%) is 300 s.
    assert (phase_queue.wait_p95_s, phase_queue.waits_counted) == (300.0, 23)
    assert queues[other.pk] == PhaseJobQueue(waiting=1, running=0, wait_p95_s=None, waits_counted=0)


def test_the_p95_wait_is_the_nearest_rank_of_the_waits_of_the_last_day(
    algorithm_phase: AlgorithmPhase,
) -> None:
    phase = algorithm_phase.phase
    evaluating = _submission(phase, algorithm_phase, Submission.Status.EVALUATING)
    taken = timezone.now() - datetime.timedelta(hours=1)
    for wait_s in range(1, 21):
        _job(
            evaluating,
            f"sub-strokewait{wait_s:03d}",
            status=Status.SUCCEEDED,
            queued_at=taken - datetime.timedelta(seconds=wait_s),
            started_at=taken,
        )
    long_ago = timezone.now() - datetime.timedelta(hours=25)
    _job(
        evaluating,
        "sub-strokeold",
        status=Status.SUCCEEDED,
        queued_at=long_ago - datetime.timedelta(seconds=1000),
        started_at=long_ago,
    )

    queue = phase_job_queues(phase_ids=[phase.pk])[phase.pk]

    # 20 waits of 1..20 s: 95% of them are at most 19 s (with the old 1000 s one it would be 20 s).
    assert queue == PhaseJobQueue(waiting=0, running=0, wait_p95_s=19.0, waits_counted=20)


def test_the_dashboard_shows_each_algorithm_phases_queue(algorithm_phase: AlgorithmPhase) -> None:
    other = _queue_made(algorithm_phase)
    client = Client()
    client.force_login(algorithm_phase.organizer)

    page = client.get(
        reverse("organizer-dashboard", args=[algorithm_phase.phase.challenge.slug])
    ).content.decode()

    assert (
        f'<td id="job-queue-{algorithm_phase.phase.slug}">4 waiting · 2 running ·\n'
        "          p95 wait 300 s over 23 jobs taken in 24 h</td>"
    ) in page
    assert (
        f'<td id="job-queue-{other.slug}">1 waiting · 0 running ·\n          no job taken in 24 h</td>'
        in page
    )
