"""Tiny algorithm images for the runtime's tests, built FROM scratch around Debian's static busybox.

Nothing is pulled from a registry. ``algorithm_image`` is a session fixture: it returns a builder that makes
an image running a shell script as a given user, builds each distinct (script, user) once per session and
removes every image it built at the end. ``sandbox_run`` runs one on a tiny staged input with small limits.
"""

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from inference.sandbox import RunOutcome, SandboxLimits, container_run
from tests.conftest import service_unavailable

BUSYBOX = Path("/bin/busybox")

AlgorithmImage = Callable[..., str]


def dockerfile_text(*, script: str, user: str) -> str:
    """A Dockerfile whose image runs ``script`` with busybox's shell as ``user`` (empty: no USER line)."""
    lines = [
        "FROM scratch",
        "COPY busybox /bin/busybox",
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        "ENV PATH=/bin",
    ]
    if user:
        lines.append(f"USER {user}")
    lines.append(f"ENTRYPOINT {json.dumps(['/bin/sh', '-c', script])}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def algorithm_image(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlgorithmImage]:
    """Return a builder of busybox images running a script: ``algorithm_image(script, user=...)``."""
    if not BUSYBOX.exists():
        service_unavailable(f"needs a static busybox at {BUSYBOX} (apt-get install busybox-static)")
    built: dict[tuple[str, str], str] = {}

    def build(script: str, *, user: str = "1000:1000") -> str:
        key = (script, user)
        if key not in built:
            context = tmp_path_factory.mktemp("algorithm-image")
            shutil.copy2(BUSYBOX, context / "busybox")
            (context / "Dockerfile").write_text(dockerfile_text(script=script, user=user))
            tag = f"isles-portal-test/algorithm:{uuid.uuid4().hex[:12]}"
            docker_client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
            built[key] = tag
        return built[key]

    yield build
    for tag in built.values():
        docker_client.images.remove(tag, force=True)


def image_save(docker_client: docker.DockerClient, tag: str, path: Path) -> Path:
    """Write ``docker save TAG`` to ``path``, as a participant would before uploading."""
    with path.open("wb") as archive:
        for chunk in docker_client.images.get(tag).save(named=True):
            archive.write(chunk)
    return path


TEST_LIMITS = SandboxLimits(
    memory_bytes=64 * 2**20,
    cpus=1.0,
    pids=32,
    time_limit_s=10.0,
    tmpfs_bytes=16 * 2**20,
    output_max_bytes=2**20,
)


def sandbox_run(
    docker_client: docker.DockerClient, image: str, folder: Path, *, limits: SandboxLimits = TEST_LIMITS
) -> RunOutcome:
    """Run ``image`` on a tiny staged input (``folder/input``) with its output in ``folder/output``."""
    (folder / "input" / "images" / "tiny").mkdir(parents=True, exist_ok=True)
    (folder / "input" / "inputs.json").write_text("[]")
    (folder / "output").mkdir(exist_ok=True)
    return container_run(
        client=docker_client,
        image=image,
        input_folder=folder / "input",
        output_folder=folder / "output",
        limits=limits,
        gpu_device=None,
    )
