"""The local Docker engine builds an image and runs it in the sandbox participant containers get.

The image is built FROM scratch around Debian's static busybox, so nothing is pulled from a registry. The
container runs with no network, every capability dropped, no new privileges, a read-only root, a tmpfs
``/tmp``, pids and memory limits and a non-root user: the settings the container runtime uses.
"""

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.conftest import service_unavailable

BUSYBOX = Path("/bin/busybox")
DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
USER 1000:1000
ENTRYPOINT ["/bin/busybox"]
"""

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def busybox_image(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Build a busybox-only image as user 1000 and remove it afterwards."""
    if not BUSYBOX.exists():
        service_unavailable(f"needs a static busybox at {BUSYBOX} (apt-get install busybox-static)")
    context = tmp_path_factory.mktemp("busybox-image")
    shutil.copy2(BUSYBOX, context / "busybox")
    (context / "Dockerfile").write_text(DOCKERFILE)
    tag = f"isles-portal-test/busybox:{uuid.uuid4().hex[:12]}"
    docker_client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
    yield tag
    docker_client.images.remove(tag, force=True)


def run_sandboxed(docker_client: docker.DockerClient, image: str, *command: str) -> tuple[int, str]:
    """Run ``command`` in the sandbox; return its exit status and its combined output."""
    container = docker_client.containers.create(
        image,
        list(command),
        network_mode="none",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        read_only=True,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=16m"},
        pids_limit=32,
        mem_limit="64m",
    )
    try:
        container.start()
        exit_status = container.wait(timeout=30)["StatusCode"]
        output = container.logs(stdout=True, stderr=True).decode()
    finally:
        container.remove(force=True)
    return exit_status, output


def test_sandboxed_container_prints_what_it_is_told(
    docker_client: docker.DockerClient, busybox_image: str
) -> None:
    assert run_sandboxed(docker_client, busybox_image, "echo", "hello") == (0, "hello\n")


def test_sandboxed_container_runs_as_user_1000_not_root(
    docker_client: docker.DockerClient, busybox_image: str
) -> None:
    assert run_sandboxed(docker_client, busybox_image, "id", "-u") == (0, "1000\n")


def test_sandboxed_container_cannot_reach_the_network(
    docker_client: docker.DockerClient, busybox_image: str
) -> None:
    download_status, _ = run_sandboxed(
        docker_client, busybox_image, "wget", "-T", "3", "-O", "/tmp/page", "http://1.1.1.1/"
    )
    _, interfaces = run_sandboxed(docker_client, busybox_image, "cat", "/proc/net/dev")

    assert download_status != 0
    assert [line.split(":")[0].strip() for line in interfaces.splitlines()[2:]] == ["lo"]


def test_sandboxed_container_cannot_write_outside_tmp(
    docker_client: docker.DockerClient, busybox_image: str
) -> None:
    exit_status, output = run_sandboxed(docker_client, busybox_image, "touch", "/bin/intruder")

    assert exit_status != 0
    assert "Read-only file system" in output
