"""A GPU worker on another host runs a submission's jobs with no database and no share of the portal's disk.

The portal is a live server and a real cpu worker process (checks, evaluation). The gpu worker is
``python -m inference.remote_worker`` in a process whose environment names only the broker, the portal's
URL and its key: no ``DATABASE_URL``, no Django settings, and a ``VAR_DIR`` and cache of its own, empty at
the start. It takes the ``gpu`` queue's messages, claims each job through the worker API, fetches the image
and the case by signed links, runs real containers on the Docker engine and reports back; the submission
is scored as with a worker beside the database.
"""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from django.test import override_settings
from pytest_django.live_server_helper import LiveServer

from portal.algorithms import remote
from portal.algorithms.models import Job
from portal.submissions.models import Submission
from tests.inference.images import AlgorithmImage, image_save
from tests.integration.conftest import WorkerStart, process_group_stop, wait_for
from tests.portal.algorithms import conftest as algorithm_fixtures
from tests.portal.algorithms.conftest import COPY_DWI, AlgorithmPhase, archive_upload

algorithm_phase = algorithm_fixtures.algorithm_phase
algorithm_image = algorithm_fixtures.algorithm_image

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RemoteWorkerStart = Callable[[str, Path], subprocess.Popen[bytes]]


@pytest.fixture
def remote_worker_start(live_server: LiveServer, empty_broker: str) -> Iterator[RemoteWorkerStart]:
    """Start ``python -m inference.remote_worker`` registered as ``name``, in a home folder of its own;
    every one started is stopped with its process group when the test ends."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, home: Path) -> subprocess.Popen[bytes]:
        _, key = remote.remote_worker_add(name=name)
        (home / "var").mkdir(parents=True)
        environment = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "VAR_DIR": str(home / "var"),
            "CELERY_BROKER_URL": empty_broker,
            "ISLES_PORTAL_URL": live_server.url,
            "ISLES_WORKER_KEY": key,
            "ISLES_WORKER_CACHE_DIR": str(home / "cache"),
            "ISLES_WORKER_CACHE_MB": "512",
            "TMPDIR": str(home / "var"),
        }
        environment.update({name: value for name, value in os.environ.items() if name.startswith("DOCKER_")})
        with (home / "worker.log").open("ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "inference.remote_worker"],
                cwd=Path(__file__).resolve().parents[2],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(worker)
        return worker

    with override_settings(ISLES_PORTAL_URL=live_server.url):
        yield start
    for worker in started:
        process_group_stop(worker)


def test_a_remote_worker_without_the_database_runs_a_submissions_jobs(
    algorithm_phase: AlgorithmPhase,
    celery_worker_start: WorkerStart,
    remote_worker_start: RemoteWorkerStart,
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    tmp_path: Path,
) -> None:
    tag = algorithm_image(COPY_DWI)
    archive = image_save(docker_client, tag, tmp_path / "image.tar")
    cpu_log = tmp_path / "cpu-worker.log"
    celery_worker_start(log_path=cpu_log, queues="cpu")
    home = tmp_path / "gpu-host"
    worker = remote_worker_start("gpu-host-1", home)
    client = algorithm_phase.client_for(algorithm_phase.participant)

    submission_id = archive_upload(client, phase=algorithm_phase.phase, archive=archive, chunk_bytes=1 << 20)[
        "submission"
    ]
    logs = [cpu_log, home / "worker.log"]
    wait_for(
        "the submission to end",
        lambda: Submission.objects.get(pk=submission_id).status not in ("PENDING", "CHECKING", "EVALUATING"),
        logs=logs,
    )

    submission = Submission.objects.get(pk=submission_id)
    assert worker.poll() is None
    assert submission.status == Submission.Status.SUCCEEDED, submission.error
    jobs = Job.objects.filter(submission=submission)
    assert sorted(jobs.values_list("case__name", "status")) == [
        ("sub-stroke0001", "SUCCEEDED"),
        ("sub-stroke0100", "SUCCEEDED"),
        ("sub-stroke0101", "SUCCEEDED"),
    ]
    assert all(job.stdout_tail.strip() == "segmenting" for job in jobs)
    assert submission.case_results.count() == 2
    log = (home / "worker.log").read_text()
    assert "Running job" in log
    assert "Traceback" not in log
    # What the worker kept: converted inputs in its own cache; nothing of the job's scratch.
    assert list((home / "cache" / "conversions").glob("*.mha"))
    assert not list((home / "var").glob("isles-*"))
