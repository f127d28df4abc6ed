"""The portal's image deployed as compose deploys it, and used as a participant uses it.

``docker/build.sh`` builds the image offline on the offline base (or finds it built from the same inputs:
the image is labelled with their digest). Three containers of it run with the host's network, as the
web server (its entrypoint migrates, then serves gunicorn on a free port), a ``cpu`` worker and a ``gpu``
worker that reaches the host's engine through its socket, against this machine's PostgreSQL (a database
of the test's own), Redis (the test's database) and an S3-compatible object store on loopback (moto's
server, where compose runs MinIO), and share no disk: files are in the bucket, and the gpu worker copies a
job's files into and out of volumes of the host's engine (``ISLES_CONTAINER_IO=volumes``), which cannot
see the worker's folders.
The organizer's side (a challenge, two hidden synthetic cases, a training case for the sanity job, an
algorithm phase whose runs ask for no GPU, since this machine has none, and a participant with an API
token) is made inside the web container with ``manage.py shell``; then the participant saves the
reference image ``isles-reference/threshold`` and submits it over HTTP with the ``isles`` client, and
every job succeeds, on the gpu worker, and the submission is scored and ranked.

The containers, the cases' input volumes, the bucket and the database go whatever happens; the image
stays (tagged ``isles-portal:test``), so a later run with the same inputs starts at once.
"""

import io
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import boto3
import docker
import docker.errors
import psycopg
import pytest
import redis
from django.conf import settings

from inference.client import PortalClient
from inference.client import main as isles_main
from tests.conftest import S3_REGION, service_unavailable

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PORTAL_IMAGE = "isles-portal:test"
ALGORITHM_IMAGE = "isles-reference/threshold"
DOCKER_SOCKET = Path("/var/run/docker.sock")
ROLES = ("web", "worker-cpu", "worker-gpu")
S3_KEY_ID = "isles-deployment"
S3_SECRET = "isles-deployment-secret"

# The organizer's side, run in the web container: the code and settings of the image, on its database.
ORGANIZER_SETUP = """
import json, tempfile
from datetime import timedelta
from pathlib import Path

from django.utils import timezone
from rest_framework.authtoken.models import Token

from portal.accounts.models import ChallengeRole, User
from portal.accounts.services import challenge_role_grant, email_address_mark_verified
from portal.algorithms.models import AlgorithmSettings
from portal.challenges.models import Challenge, Phase, Split
from portal.datasets.models import Dataset
from portal.datasets.services import isles24_import
from releases.synthetic import write_release

challenge = Challenge.objects.create(slug="deployment", title="Deployment", is_public=True)
dataset = Dataset.objects.create(challenge=challenge, slug="isles24", title="ISLES'24 (synthetic)")
with tempfile.TemporaryDirectory() as folder:
    for split, cases, seed, first_subject in ((Split.TRAIN, 1, 31, 1), (Split.TEST, 2, 32, 201)):
        release = Path(folder) / split.lower()
        write_release(release, cases=cases, seed=seed, size="small", first_subject=first_subject)
        isles24_import(dataset=dataset, root=release, split=split)
now = timezone.now()
phase = Phase.objects.create(
    challenge=challenge, slug="deployment-final", title="Final", dataset=dataset, split=Split.TEST,
    submission_kind=Phase.SubmissionKind.ALGORITHM, metric_profile=Phase.MetricProfile.ISLES24,
    opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=1),
)
AlgorithmSettings.objects.create(
    phase=phase, interface_set=AlgorithmSettings.InterfaceSetName.ISLES24, time_limit_s=120, memory_gb=0.5,
    cpus=1.0, pids=64, tmpfs_mb=64, output_max_mb=16, image_max_gb=2.0, gpu=False,
    logs_visible_to_participants=True,
)
user = User.objects.create(username="participant", email="participant@deployment.invalid")
email_address_mark_verified(user=user)
challenge_role_grant(user=user, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT)
print(json.dumps({"phase": phase.slug, "token": Token.objects.create(user=user).key}))
"""


@dataclass(frozen=True)
class Deployment:
    """The running containers and the address of the web server."""

    url: str
    containers: dict[str, "docker.models.containers.Container"]

    def logs(self) -> str:
        """The last lines of every container's log, to read when something did not happen."""
        return "\n".join(
            f"--- {role} ---\n{container.logs(tail=60).decode(errors='replace')}"
            for role, container in self.containers.items()
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def portal_image(docker_client: docker.DockerClient) -> str:
    """The portal's image, built offline by docker/build.sh, or the one already built from the same inputs."""
    built = subprocess.run(
        [str(ROOT / "docker" / "build.sh")],
        env={**os.environ, "TAG": PORTAL_IMAGE, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return PORTAL_IMAGE


@pytest.fixture(scope="module")
def algorithm_archive(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference image ``threshold`` (built offline once, as the demo builds it), saved with ``docker
    save`` as a participant saves theirs."""
    try:
        image = docker_client.images.get(ALGORITHM_IMAGE)
    except docker.errors.ImageNotFound:
        subprocess.run(
            [str(ROOT / "docker" / "reference" / "build.sh"), "threshold"], check=True, timeout=900
        )
        image = docker_client.images.get(ALGORITHM_IMAGE)
    archive = tmp_path_factory.mktemp("algorithm") / "threshold.tar"
    with archive.open("wb") as target:
        for chunk in image.save(named=True):
            target.write(chunk)
    return archive


@pytest.fixture
def database_url() -> Iterator[str]:
    """A database of the test's own on the machine's PostgreSQL (the server of the test database), dropped
    afterwards whoever is still connected to it."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        service_unavailable("needs PostgreSQL (set DATABASE_URL=postgres://...)")
    name = f"isles_deployment_{secrets.token_hex(4)}"
    server = {
        "host": database["HOST"] or "localhost",
        "port": database["PORT"] or 5432,
        "user": database["USER"],
        "password": database["PASSWORD"] or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**server) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    credentials = quote(database["USER"] or "")
    if database["PASSWORD"]:
        credentials += f":{quote(database['PASSWORD'])}"
    yield f"postgres://{credentials}@{server['host']}:{server['port']}/{name}"
    with psycopg.connect(**server) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def broker_url(redis_url: str) -> Iterator[str]:
    """The test's Redis database, emptied before and after, so the containers' workers take no task an
    earlier test left there."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield redis_url
    client.flushdb()
    client.close()


@pytest.fixture
def storage_url(s3_endpoint: str) -> Iterator[str]:
    """``STORAGE_URL`` of a fresh bucket on the S3-compatible server on loopback (as compose's MinIO), emptied
    and removed afterwards."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    )
    bucket = f"isles-deployment-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=bucket)
    yield f"s3://{bucket}?endpoint_url={s3_endpoint}&region_name={S3_REGION}&addressing_style=path"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def deployment(
    docker_client: docker.DockerClient,
    portal_image: str,
    database_url: str,
    broker_url: str,
    storage_url: str,
) -> Iterator[Deployment]:
    """The web server, a cpu worker and a gpu worker, each a container of the portal's image with the
    host's network, configured as the README's production settings say; their files are in the object
    store, and the gpu worker copies a job's files through volumes of the host's engine. The containers and
    their volumes are removed at the end, however the test ends (the cases' input volumes at the session's
    end, by the docker_client fixture)."""
    name = f"isles-deployment-{secrets.token_hex(4)}"
    containers: dict[str, docker.models.containers.Container] = {}
    port = _free_port()
    environment = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "STORAGE_URL": storage_url,
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "ISLES_PORTAL_URL": f"http://127.0.0.1:{port}",
        # Plain HTTP on the loopback: no TLS proxy in front of it.
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "4",
    }
    # The gpu worker starts the participants' containers on the host's engine, through its socket, as a
    # member of the socket's group; the phase's runs ask for no GPU, so its device is never used.
    gpu_worker = {
        "environment": {**environment, "ISLES_GPU_DEVICE": "0", "ISLES_CONTAINER_IO": "volumes"},
        "volumes": {str(DOCKER_SOCKET): {"bind": str(DOCKER_SOCKET), "mode": "rw"}},
        "group_add": [str(DOCKER_SOCKET.stat().st_gid)],
    }
    try:
        for role in ROLES:
            options = gpu_worker if role == "worker-gpu" else {"environment": environment}
            containers[role] = docker_client.containers.run(
                portal_image, [role], name=f"{name}-{role}", network_mode="host", detach=True, **options
            )
        deployment = Deployment(url=f"http://127.0.0.1:{port}", containers=containers)
        _wait(
            lambda: _healthy(deployment.url),
            what="the web server to answer /health/",
            deployment=deployment,
        )
        for role in ("worker-cpu", "worker-gpu"):
            container = containers[role]
            _wait(
                lambda c=container: b" ready." in c.logs(),
                what=f"the {role} to be ready",
                deployment=deployment,
            )
        yield deployment
    finally:
        for container in containers.values():
            container.remove(force=True, v=True)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/", timeout=10) as answer:
            return bool(answer.status == 200)
    except OSError:  # not listening yet, still starting (a time-out), or 503 (HTTPError) until all is up
        return False


def _wait(ready: Callable[[], bool], *, what: str, deployment: Deployment, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        for role, container in deployment.containers.items():
            container.reload()
            assert container.status == "running", f"the {role} container stopped:\n{deployment.logs()}"
        assert time.monotonic() < deadline, f"waited {timeout_s:.0f} s for {what}:\n{deployment.logs()}"
        time.sleep(1)


def _isles(*arguments: str) -> str:
    """Run the participant's command line; its output, which must end without an error."""
    out, err = io.StringIO(), io.StringIO()
    status = isles_main(list(arguments), out=out, err=err)
    assert status == 0, err.getvalue()
    return out.getvalue()


def test_the_portal_image_serves_runs_and_scores_a_submitted_algorithm(
    deployment: Deployment, algorithm_archive: Path
) -> None:
    setup = deployment.containers["web"].exec_run(["python", "manage.py", "shell", "-c", ORGANIZER_SETUP])
    assert setup.exit_code == 0, setup.output.decode(errors="replace")
    organizer = json.loads(setup.output.decode().strip().splitlines()[-1])
    login = ["--url", deployment.url, "--token", organizer["token"]]

    submission_id = int(
        _isles(*login, "submit-algorithm", organizer["phase"], str(algorithm_archive)).split()[-1]
    )
    client = PortalClient(url=deployment.url, token=organizer["token"])
    _wait(
        lambda: (
            client.submission(submission_id=submission_id)["status"] in ("SUCCEEDED", "FAILED", "CANCELLED")
        ),
        what=f"submission {submission_id} to end",
        deployment=deployment,
        timeout_s=600,
    )
    jobs = _isles(*login, "jobs", str(submission_id))
    log = _isles(*login, "logs", str(submission_id))
    leaderboard = _isles(*login, "leaderboard", organizer["phase"])

    submission = client.submission(submission_id=submission_id)
    assert submission["status"] == "SUCCEEDED", f"{submission}\n{jobs}\n{deployment.logs()}"
    assert jobs.count("SUCCEEDED") == 3, jobs
    assert "(sanity case)  SUCCEEDED" in jobs
    assert jobs.count(" on CPU") == 3, jobs
    assert re.search(r"threshold: \d+ lesion voxels of \d+ written", log), log
    assert "participant" in leaderboard, leaderboard
    # The jobs ran on the gpu worker, which alone takes the gpu queue.
    received = re.compile(r"Task portal\.algorithms\.tasks\.job_next_task\[[0-9a-f-]+\] received")
    assert received.search(deployment.containers["worker-gpu"].logs().decode(errors="replace"))
    assert not received.search(deployment.containers["worker-cpu"].logs().decode(errors="replace"))
