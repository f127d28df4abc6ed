"""Real workers hand jobs out fairly between two teams (issue 18).

Two teams submit an algorithm to the same phase while no gpu worker runs: the first team's submission is
checked and waits first. Then one gpu worker starts (a real Celery process on the Redis broker) and takes
the ``gpu`` queue's messages, each "take the next job". The second team's sanity case runs right after the
first team's, before the first team's other cases: a team's queue never holds another team's sanity case
back by more than one job per worker. Then the other cases run in the order they were queued, as neither
team has a job running when the worker asks.
"""

from pathlib import Path

import docker
import pytest

from portal.accounts.models import ChallengeRole
from portal.algorithms.models import Job
from portal.submissions.models import Submission
from tests.inference.images import AlgorithmImage, image_save
from tests.integration.conftest import WorkerStart, wait_for
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.algorithms import conftest as algorithm_fixtures
from tests.portal.algorithms.conftest import COPY_DWI, AlgorithmPhase, archive_upload

algorithm_phase = algorithm_fixtures.algorithm_phase
algorithm_image = algorithm_fixtures.algorithm_image

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_second_teams_sanity_case_runs_before_the_first_teams_queue(
    algorithm_phase: AlgorithmPhase,
    celery_worker_start: WorkerStart,
    empty_broker: str,
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
) -> None:
    archive = image_save(docker_client, algorithm_image(COPY_DWI), tmp_path / "image.tar")
    log_path = tmp_path / "workers.log"
    celery_worker_start(log_path=log_path, queues="cpu")
    second_team = ChallengeRoleFactory(
        challenge=algorithm_phase.phase.challenge, role=ChallengeRole.Role.PARTICIPANT, user__username="other"
    ).user
    submissions = []
    for user in (algorithm_phase.participant, second_team):
        client = algorithm_phase.client_for(user)
        body = archive_upload(client, phase=algorithm_phase.phase, archive=archive, chunk_bytes=1 << 20)
        submissions.append(body["submission"])
        wait_for(
            f"submission {body['submission']} to be checked",
            lambda pk=body["submission"]: Job.objects.filter(submission_id=pk).exists(),
            logs=[log_path],
        )

    celery_worker_start(log_path=log_path, queues="gpu")
    wait_for(
        "both submissions to end",
        lambda: (
            not Submission.objects.filter(pk__in=submissions, status=Submission.Status.EVALUATING).exists()
        ),
        logs=[log_path],
    )

    first, second = (f"submission {pk}" for pk in submissions)
    order = [
        (f"submission {job.submission_id}", job.case.name, job.status)
        for job in Job.objects.filter(submission_id__in=submissions)
        .select_related("case")
        .order_by("started_at")
    ]
    assert order == [
        (first, "sub-stroke0001", "SUCCEEDED"),  # the sanity cases first, each team's in turn
        (second, "sub-stroke0001", "SUCCEEDED"),
        (first, "sub-stroke0100", "SUCCEEDED"),
        (first, "sub-stroke0101", "SUCCEEDED"),
        (second, "sub-stroke0100", "SUCCEEDED"),
        (second, "sub-stroke0101", "SUCCEEDED"),
    ]
