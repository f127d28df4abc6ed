"""Submission limits hold under concurrency: 20 simultaneous uploads against a limit of 3 on PostgreSQL.

Every thread has its own database connection and calls ``submission_create`` at the same moment; the
checks they queue go to the Redis broker of the ``redis_url`` fixture (nobody consumes them), so the
count of accepted submissions is not disturbed by checks running in the threads.
"""

import threading
from collections.abc import Iterator

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from portal.accounts.models import ChallengeRole
from portal.challenges.models import Phase
from portal.submissions.exceptions import SubmissionRefused
from portal.submissions.models import Submission
from portal.submissions.services import submission_create
from tests.portal.accounts.factories import ChallengeRoleFactory, TeamFactory, TeamMembershipFactory
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.submissions.conftest import good_masks, zip_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

THREADS = 20
LIMIT = 3


@pytest.fixture
def queued_checks(celery_broker: str) -> Iterator[redis.Redis]:
    """Tasks go to Redis instead of running eagerly; yields a client of that Redis database."""
    client = redis.Redis.from_url(celery_broker)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_twenty_simultaneous_submissions_against_a_limit_of_three_accept_exactly_three(
    postgresql: None, queued_checks: redis.Redis
) -> None:
    phase = PhaseFactory(
        submission_kind=Phase.SubmissionKind.PREDICTIONS,
        daily_submission_limit=LIMIT,
        total_submission_limit=LIMIT,
    )
    team = TeamFactory(challenge=phase.challenge)
    members = []
    for _ in range(5):
        member = ChallengeRoleFactory(challenge=phase.challenge, role=ChallengeRole.Role.PARTICIPANT).user
        TeamMembershipFactory(team=team, user=member)
        members.append(member)
    content = zip_bytes(good_masks())
    start = threading.Barrier(THREADS)
    accepted: list[int] = []
    refusals: list[str] = []

    def submit(index: int) -> None:
        try:
            upload = SimpleUploadedFile(f"predictions-{index}.zip", content)
            start.wait()
            try:
                accepted.append(
                    submission_create(phase=phase, user=members[index % len(members)], upload=upload).pk
                )
            except SubmissionRefused as refusal:
                refusals.extend(refusal.messages)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(accepted) == LIMIT
    assert refusals == [f"Your team has used all {LIMIT} submissions of this phase."] * (THREADS - LIMIT)
    assert Submission.objects.filter(phase=phase).count() == LIMIT
    assert queued_checks.llen("cpu") == LIMIT
