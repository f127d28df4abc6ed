"""A run's ``/input`` and ``/output`` reach the container through the engine, never as folders of the worker.

The worker here runs in a mount namespace of its own, its scratch folder a tmpfs the engine cannot see, as a
worker in a container that talks to the host's engine through its socket (or to a remote ``DOCKER_HOST``)
sees a disk the engine does not: the algorithm still reads its case and the worker still receives its
output, as its own files whichever uid wrote them. A case's input volume is filled once and mounted by the
next run on it; a volume a worker died filling is never mounted; the least recently used volumes go past
the cap. A worker killed during a run leaves its container and its output volume; the worker that takes
the job over removes both.
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

from inference.runtime import DockerRuntime
from inference.sandbox import container_remove
from inference.volumes import LABEL_DIGEST, InputVolumes
from tests.inference.images import (
    TEST_LIMITS,
    TEST_RUN_PREFIX,
    AlgorithmImage,
    algorithm_images,
    engine_input_volumes,
    input_holders,
    input_volume_names,
    runs_left,
)

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]
CASE_TEXT = "sub-stroke0001 dwi"
READS_AND_WRITES = (
    "cat /input/images/case.txt > /output/seen.txt && mkdir /output/deep && echo 1 > /output/deep/mask"
    " && chmod 500 /output/deep && id -u && grep -E ' /(input|output) ' /proc/self/mountinfo"
)
# A worker: stages the case into its scratch folder, runs it through the Docker runtime with input volumes
# and prints what it received, then clears the output as a job does. A test may have it die (SIGKILL)
# instead of marking the input volume whole, as a worker that dies while filling it.
WORKER = """
import json, os, signal, sys
from dataclasses import asdict
from pathlib import Path
import docker
from docker.models.containers import Container
from inference.runtime import DockerRuntime
from inference.sandbox import SandboxLimits
job = json.loads(sys.argv[1])
if job.get("die_filling"):
    Container.rename = lambda *_, **__: os.kill(os.getpid(), signal.SIGKILL)
scratch = Path(job["scratch"])
(scratch / "input" / "images").mkdir(parents=True)
(scratch / "input" / "images" / "case.txt").write_text(job["case"])
output = scratch / "output"
output.mkdir()
client = docker.from_env()
runtime = DockerRuntime.with_container_io(
    client, container_io=job.get("container_io", "volumes"), input_volumes_max_bytes=10**9
)
outcome = runtime.run(
    image=job["image"], input_folder=scratch / "input", output_folder=output,
    limits=SandboxLimits(**job["limits"]), gpu_device=None, name=job["name"],
    input_digest=job.get("digest"),
)
received = {
    path.relative_to(output).as_posix(): [path.stat().st_uid, oct(path.stat().st_mode & 0o777)]
    for path in sorted(output.rglob("*"))
}
seen = (output / "seen.txt").read_text() if (output / "seen.txt").exists() else None
runtime.output_clear(image=job["image"], output_folder=output)
print(json.dumps({"outcome": asdict(outcome), "seen": seen, "received": received,
                  "left": [path.name for path in output.iterdir()], "uid": os.getuid(),
                  "container_io": runtime.container_io}))
"""


@pytest.fixture(scope="module")
def algorithm_image(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlgorithmImage]:
    with algorithm_images(docker_client, tmp_path_factory.mktemp("io-images")) as build:
        yield build


@pytest.fixture
def input_volumes(docker_client: docker.DockerClient) -> Iterator[InputVolumes]:
    with engine_input_volumes(docker_client) as volumes:
        yield volumes


def own_mount_namespace(scratch: Path) -> list[str]:
    """The command prefix that runs a process in a mount namespace of its own with a private tmpfs at
    ``scratch``: what it writes there exists for it alone, not for the engine."""
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare.insert(1, "--map-root-user")
    return [*unshare, "sh", "-c", f'mount -t tmpfs tmpfs "{scratch}" && exec "$@"', "worker"]


def worker_run(
    job: dict[str, object], *, prefix: list[str] | None = None, temporary_folder: Path | None = None
) -> subprocess.CompletedProcess[str]:
    temporary = {"TMPDIR": str(temporary_folder)} if temporary_folder else {}
    return subprocess.run(
        [*(prefix or []), sys.executable, "-c", WORKER, json.dumps(job)],
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY), **temporary},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def job_of(image: str, scratch: Path, **more: object) -> dict[str, object]:
    return {
        "image": image,
        "case": CASE_TEXT,
        "scratch": str(scratch),
        "limits": TEST_LIMITS.__dict__,
        "name": f"{TEST_RUN_PREFIX}{os.getpid()}-{time.monotonic_ns()}",
        **more,
    }


def holders_of(docker_client: docker.DockerClient, digest: str) -> dict[str, str]:
    return {id_: name for id_, name in input_holders(docker_client).items() if digest in name}


def volumes_of(docker_client: docker.DockerClient, digest: str) -> list[str]:
    return [
        volume.name for volume in docker_client.volumes.list(filters={"label": f"{LABEL_DIGEST}={digest}"})
    ]


def test_a_worker_whose_folders_the_engine_cannot_see_runs_a_uid_999_image_and_receives_its_output(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    input_volumes: InputVolumes,
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    job = job_of(algorithm_image(READS_AND_WRITES, user="999:999"), scratch, container_io="auto")

    # Its temporary folder is in the tmpfs too, so "auto" finds that the engine cannot see it.
    worker = worker_run(job, prefix=own_mount_namespace(scratch), temporary_folder=scratch)

    assert worker.returncode == 0, worker.stderr
    result = json.loads(worker.stdout)
    assert result["container_io"] == "volumes"
    assert result["outcome"]["exit_code"] == 0, result["outcome"]["stderr_tail"]
    assert result["seen"] == CASE_TEXT
    # What the uid-999 container wrote (a folder it made unwritable included) is the worker's own, and gone.
    assert result["outcome"]["stdout_tail"].startswith("999\n")
    assert result["received"] == {
        "deep": [result["uid"], "0o755"],
        "deep/mask": [result["uid"], "0o644"],
        "seen.txt": [result["uid"], "0o644"],
    }
    assert result["left"] == []
    mounts = result["outcome"]["stdout_tail"]
    assert " /input ro," in mounts
    assert " /output rw," in mounts
    assert str(tmp_path) not in mounts
    assert list(scratch.iterdir()) == []  # the worker's files never existed outside its namespace
    assert runs_left(docker_client) == []


def test_auto_bind_mounts_the_folders_of_a_worker_beside_its_engine(
    docker_client: docker.DockerClient,
) -> None:
    runtime = DockerRuntime.with_container_io(docker_client, container_io="auto", input_volumes_max_bytes=0)

    assert runtime.container_io == "bind"


def test_a_cases_input_volume_is_filled_once_and_mounted_by_the_next_run_on_it(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    input_volumes: InputVolumes,
    tmp_path: Path,
) -> None:
    image = algorithm_image(READS_AND_WRITES, user="999:999")
    digest = f"test-{time.monotonic_ns()}"

    first = worker_run(job_of(image, tmp_path / "first", digest=digest))
    holders_after_first = holders_of(docker_client, digest)
    second_image = algorithm_image("cat /input/images/case.txt > /output/seen.txt")
    second = worker_run(job_of(second_image, tmp_path / "second", digest=digest))

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["seen"] == CASE_TEXT
    assert len(volumes_of(docker_client, digest)) == 1
    # The same holder, renamed with the time of its last use: nothing was copied again.
    holders = holders_of(docker_client, digest)
    assert len(holders) == 1
    assert holders.keys() == holders_after_first.keys()
    assert holders != holders_after_first


def test_an_input_volume_a_worker_died_filling_is_not_mounted(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    input_volumes: InputVolumes,
    tmp_path: Path,
) -> None:
    image = algorithm_image("cat /input/images/case.txt > /output/seen.txt")
    digest = f"test-{time.monotonic_ns()}"

    died_job = job_of(image, tmp_path / "died", digest=digest, die_filling=True, case="half")
    died = worker_run(died_job)
    container_remove(client=docker_client, name=str(died_job["name"]))  # as the job's next worker does
    after = worker_run(job_of(image, tmp_path / "after", digest=digest))

    assert died.returncode == -signal.SIGKILL
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["seen"] == CASE_TEXT
    assert len(volumes_of(docker_client, digest)) == 2  # the dead worker's, never used, and a whole one
    assert runs_left(docker_client) == []


def test_past_the_cap_the_least_recently_used_input_volumes_are_removed(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    input_volumes: InputVolumes,
    tmp_path: Path,
) -> None:
    image = algorithm_image("cat /input/images/case.txt > /output/seen.txt")
    runtime = DockerRuntime(docker_client, input_volumes=input_volumes)
    digests = {case: f"test-{case}-{time.monotonic_ns()}" for case in "abc"}

    def job(case: str) -> None:
        folder = tmp_path / f"{case}-{time.monotonic_ns()}"
        (folder / "input" / "images").mkdir(parents=True)
        (folder / "input" / "images" / "case.txt").write_text(f"case {case}")
        (folder / "output").mkdir()
        outcome = runtime.run(
            image=image,
            input_folder=folder / "input",
            output_folder=folder / "output",
            limits=TEST_LIMITS,
            gpu_device=None,
            name=f"{TEST_RUN_PREFIX}{case}-{time.monotonic_ns()}",
            input_digest=digests[case],
        )
        assert outcome.succeeded
        assert (folder / "output" / "seen.txt").read_text() == f"case {case}"

    job("a")
    one_case = int(
        docker_client.containers.list(all=True, filters={"label": f"{LABEL_DIGEST}={digests['a']}"})[
            0
        ].labels["isles-portal.input-bytes"]
    )
    runtime = DockerRuntime(
        docker_client, input_volumes=InputVolumes(client=docker_client, max_bytes=2 * one_case)
    )
    job("b")
    job("a")  # a is now used after b
    job("c")  # three cases do not fit: b goes

    assert [bool(volumes_of(docker_client, digests[case])) for case in "abc"] == [True, False, True]


def test_the_worker_taking_over_a_killed_workers_job_removes_its_container_and_output_volume(
    docker_client: docker.DockerClient,
    algorithm_image: AlgorithmImage,
    input_volumes: InputVolumes,
    tmp_path: Path,
) -> None:
    job = job_of(algorithm_image("sleep 3600"), tmp_path)
    name = str(job["name"])
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
        assert f"{name}-output" in {volume.name for volume in docker_client.volumes.list()}

        assert container_remove(client=docker_client, name=name)

        assert runs_left(docker_client) == []
        assert input_volume_names(docker_client)  # the case's input volume stays for the next job
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        container_remove(client=docker_client, name=name)
