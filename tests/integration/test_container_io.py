"""A run's ``/input`` and ``/output`` reach the container through the engine, never as folders of the worker.

The worker here runs in a mount namespace of its own, its scratch folder a tmpfs the engine cannot see, as a
worker in a container that talks to the host's engine through its socket (or to a remote ``DOCKER_HOST``)
sees a disk the engine does not: the algorithm still reads its case and the worker still receives its
output. A worker killed during a run leaves its container and its two volumes; the worker that takes the
job over removes all three.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from inference.sandbox import container_remove
from tests.inference.images import TEST_LIMITS, AlgorithmImage, algorithm_images

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]
CASE_TEXT = "sub-stroke0001 dwi"
READS_AND_WRITES = (
    "cat /input/images/case.txt > /output/seen.txt && mkdir /output/deep && chmod 500 /output/deep"
    " && grep -E ' /(input|output) ' /proc/self/mountinfo"
)
WORKER = """
import json, sys
from dataclasses import asdict
from pathlib import Path
import docker
from inference.sandbox import SandboxLimits, container_run
job = json.loads(sys.argv[1])
scratch = Path(job["scratch"])
(scratch / "input" / "images").mkdir(parents=True)
(scratch / "input" / "images" / "case.txt").write_text(job["case"])
(scratch / "output").mkdir()
outcome = container_run(
    client=docker.from_env(), image=job["image"], input_folder=scratch / "input",
    output_folder=scratch / "output", limits=SandboxLimits(**job["limits"]), gpu_device=None,
    name=job.get("name"),
)
print(json.dumps({"outcome": asdict(outcome), "seen": (scratch / "output" / "seen.txt").read_text(),
                  "deep": (scratch / "output" / "deep").is_dir()}))
"""


@pytest.fixture(scope="module")
def algorithm_image(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlgorithmImage]:
    with algorithm_images(docker_client, tmp_path_factory.mktemp("io-images")) as build:
        yield build


def own_mount_namespace(scratch: Path) -> list[str]:
    """The command prefix that runs a process in a mount namespace of its own with a private tmpfs at
    ``scratch``: what it writes there exists for it alone, not for the engine."""
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare.insert(1, "--map-root-user")
    return [*unshare, "sh", "-c", f'mount -t tmpfs tmpfs "{scratch}" && exec "$@"', "worker"]


def run_volumes(docker_client: docker.DockerClient) -> list[str]:
    return [volume.name for volume in docker_client.volumes.list(filters={"label": "isles.run"})]


def test_a_worker_whose_folders_the_engine_cannot_see_runs_the_case_and_receives_the_output(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    image = algorithm_image(READS_AND_WRITES, user="999:999")
    job = {"image": image, "case": CASE_TEXT, "scratch": str(scratch), "limits": TEST_LIMITS.__dict__}
    volumes_before = run_volumes(docker_client)

    worker = subprocess.run(
        [*own_mount_namespace(scratch), sys.executable, "-c", WORKER, json.dumps(job)],
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert worker.returncode == 0, worker.stderr
    result = json.loads(worker.stdout)
    assert result["outcome"]["exit_code"] == 0, result["outcome"]["stderr_tail"]
    assert result["seen"] == CASE_TEXT
    assert result["deep"]
    mounts = result["outcome"]["stdout_tail"]
    assert " /input " in mounts
    assert " /output " in mounts
    assert str(tmp_path) not in mounts
    assert list(scratch.iterdir()) == []  # the worker's files never existed outside its namespace
    assert run_volumes(docker_client) == volumes_before


def test_the_worker_taking_over_a_killed_workers_job_removes_its_container_and_volumes(
    docker_client: docker.DockerClient, algorithm_image: AlgorithmImage, tmp_path: Path
) -> None:
    name = f"isles-test-io-{os.getpid()}"
    job = {
        "image": algorithm_image("sleep 3600"),
        "case": CASE_TEXT,
        "scratch": str(tmp_path),
        "limits": TEST_LIMITS.__dict__,
        "name": name,
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(job)],
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not docker_client.containers.list(filters={"name": name, "status": "running"}):
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.1)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        assert sorted(run_volumes(docker_client)) >= [f"{name}-input", f"{name}-output"]

        assert container_remove(client=docker_client, name=name)

        assert docker_client.containers.list(all=True, filters={"name": name}) == []
        assert not {f"{name}-input", f"{name}-output"} & set(run_volumes(docker_client))
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        container_remove(client=docker_client, name=name)
