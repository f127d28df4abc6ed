"""A gpu worker killed with SIGKILL in the middle of an algorithm's job loses nothing and duplicates nothing.

A real worker on the ``gpu`` and ``cpu`` queues takes the sanity job of an algorithm submission (a busybox
container that sleeps, then copies its input to its output) and its process group is killed while the
container runs. Redis would give the job's message back only after its visibility timeout (an hour
here): the sweeper of the worker started after the kill (it runs Celery beat) finds the job's claim
without a heartbeat and queues it again; the worker claims the RUNNING job again, removes the container
the dead worker left, runs the rest and the evaluation: one job and one result per case.
"""

import os
import signal
from pathlib import Path

import docker
import pytest

from portal.algorithms.models import Job
from portal.submissions.models import CaseResult, Submission
from tests.inference.images import AlgorithmImage, image_save
from tests.integration.conftest import WorkerStart, wait_for
from tests.portal.algorithms import conftest as algorithm_fixtures
from tests.portal.algorithms.conftest import COPY_DWI, AlgorithmPhase, archive_upload

# The algorithm phase and the busybox image builder of the algorithms app's tests, reused here.
algorithm_phase = algorithm_fixtures.algorithm_phase
algorithm_image = algorithm_fixtures.algorithm_image

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 60.0
SLOW_COPY = f"sleep 2; {COPY_DWI}"


def test_a_gpu_worker_killed_mid_job_is_replaced_and_every_case_gets_one_job_and_one_result(
    algorithm_phase: AlgorithmPhase,
    celery_worker_start: WorkerStart,
    empty_broker: str,
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
) -> None:
    tag = algorithm_image(SLOW_COPY)
    archive = image_save(docker_client, tag, tmp_path / "image.tar")
    log_path = tmp_path / "workers.log"
    first = celery_worker_start(log_path=log_path, queues="gpu,cpu", fast_steps=True)
    client = algorithm_phase.client_for(algorithm_phase.participant)

    submission_id = archive_upload(client, phase=algorithm_phase.phase, archive=archive, chunk_bytes=1 << 20)[
        "submission"
    ]
    jobs = Job.objects.filter(submission_id=submission_id)
    wait_for(
        "the sanity job to run",
        lambda: jobs.filter(status="RUNNING").exists(),
        logs=[log_path],
        seconds=WAIT_SECONDS,
    )
    # Killed once its container runs (it sleeps 2 s), however long a loaded machine took to start it.
    wait_for(
        "the sanity job's container to start",
        lambda: bool(docker_client.containers.list(filters={"ancestor": tag, "status": "running"})),
        logs=[log_path],
        seconds=WAIT_SECONDS,
    )
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert jobs.get(is_sanity=True).status == "RUNNING"
    assert docker_client.containers.list(all=True, filters={"ancestor": tag}), "the dead worker's container"

    second = celery_worker_start(log_path=log_path, queues="gpu,cpu", beat=True)
    wait_for(
        "the submission to end",
        lambda: Submission.objects.get(pk=submission_id).status not in ("PENDING", "CHECKING", "EVALUATING"),
        logs=[log_path],
        seconds=WAIT_SECONDS,
    )

    submission = Submission.objects.get(pk=submission_id)
    assert second.poll() is None
    assert submission.status == "SUCCEEDED", submission.error
    assert sorted(jobs.values_list("case__name", "status", "attempt")) == [
        ("sub-stroke0001", "SUCCEEDED", 2),  # the sanity case, a training case
        ("sub-stroke0100", "SUCCEEDED", 1),
        ("sub-stroke0101", "SUCCEEDED", 1),
    ]
    assert sorted(CaseResult.objects.filter(submission=submission).values_list("case__name", flat=True)) == [
        "sub-stroke0100",
        "sub-stroke0101",
    ]
    assert submission.state_changes.filter(to_status="SUCCEEDED").count() == 1
    assert docker_client.containers.list(all=True, filters={"ancestor": tag}) == []
    assert "Removed the container a worker left running" in log_path.read_text()
    assert "queued again ['algorithm job" in log_path.read_text()
