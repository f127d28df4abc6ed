"""Tiny algorithm images for the runtime's tests, built FROM scratch around Debian's static busybox.

Nothing is pulled from a registry. ``algorithm_images`` yields a builder that makes an image running a shell
script as a given user, builds each distinct (script, user) once and removes every image it built at the end;
the ``algorithm_image`` fixtures wrap it. ``sandbox_run`` runs one on a tiny staged input with small limits,
its folders bind-mounted or, given ``engine_input_volumes``' volumes, copied through the engine.
``image_archive_write`` writes by hand an archive in the layout of ``docker save``, for the upload checks.
"""

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import docker
import docker.errors

from inference.sandbox import RunOutcome, SandboxLimits, container_run
from inference.volumes import LABEL_ROLE, InputVolumes
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


@contextmanager
def algorithm_images(docker_client: docker.DockerClient, workdir: Path) -> Iterator[AlgorithmImage]:
    """Yield a builder of busybox images running a script, ``build(script, user=...)`` -> tag.

    Each distinct (script, user) is built once; every image built is removed on leaving.
    """
    if not BUSYBOX.exists():
        service_unavailable(f"needs a static busybox at {BUSYBOX} (apt-get install busybox-static)")
    built: dict[tuple[str, str], str] = {}

    def build(script: str, *, user: str = "1000:1000") -> str:
        key = (script, user)
        if key not in built:
            context = workdir / f"image-{len(built)}"
            context.mkdir(parents=True)
            shutil.copy2(BUSYBOX, context / "busybox")
            (context / "Dockerfile").write_text(dockerfile_text(script=script, user=user))
            tag = f"isles-portal-test/algorithm:{uuid.uuid4().hex[:12]}"
            docker_client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
            built[key] = tag
        return built[key]

    try:
        yield build
    finally:
        for tag in built.values():
            docker_client.images.remove(tag, force=True)


def image_save(docker_client: docker.DockerClient, tag: str, path: Path) -> Path:
    """Write ``docker save TAG`` to ``path``, as a participant would before uploading."""
    with path.open("wb") as archive:
        for chunk in docker_client.images.get(tag).save(named=True):
            archive.write(chunk)
    return path


def image_archive_write(
    path: Path,
    *,
    config: Mapping[str, object] | None = None,
    images: int = 1,
    layer_bytes: int = 2048,
    compress: bool = False,
    drop_layer: bool = False,
) -> Path:
    """Write a ``docker save``-style archive of ``images`` images with one layer of ``layer_bytes`` each."""
    config = config or {
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "1000:1000", "Entrypoint": ["/bin/predict"]},
    }
    config_bytes = json.dumps(config).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    layer_name = "0123abcd/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": ["team/algorithm:1"], "Layers": [layer_name]}] * images
    members = {config_name: config_bytes, "manifest.json": json.dumps(manifest).encode()}
    if not drop_layer:
        members[layer_name] = b"\0" * layer_bytes
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    path.write_bytes(gzip.compress(data, compresslevel=1) if compress else data)
    return path


TEST_LIMITS = SandboxLimits(
    memory_bytes=64 * 2**20,
    cpus=1.0,
    pids=32,
    time_limit_s=10.0,
    tmpfs_bytes=16 * 2**20,
    output_max_bytes=2**20,
)


# Every run of the tests is named with this prefix, so what one left behind is found.
TEST_RUN_PREFIX = "isles-test-run-"


def sandbox_run(
    docker_client: docker.DockerClient,
    image: str,
    folder: Path,
    *,
    limits: SandboxLimits = TEST_LIMITS,
    input_volumes: InputVolumes | None = None,
) -> RunOutcome:
    """Run ``image`` on a tiny staged input (``folder/input``) with its output in ``folder/output``,
    through ``input_volumes`` (and an output volume) when given, else bind-mounted."""
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
        name=f"{TEST_RUN_PREFIX}{uuid.uuid4().hex[:12]}",
        input_volumes=input_volumes,
    )


def input_holders(docker_client: docker.DockerClient) -> dict[str, str]:
    """The engine's input volume holders (whole or being filled): name by id."""
    holders = docker_client.containers.list(
        all=True, sparse=True, filters={"label": f"{LABEL_ROLE}=input-holder"}
    )
    return {holder.id: holder.attrs["Names"][0].lstrip("/") for holder in holders}


def input_volume_names(docker_client: docker.DockerClient) -> set[str]:
    return {volume.name for volume in docker_client.volumes.list(filters={"label": f"{LABEL_ROLE}=input"})}


def runs_left(docker_client: docker.DockerClient) -> list[str]:
    """The containers and volumes of test runs still on the engine."""
    containers = docker_client.containers.list(all=True, sparse=True, filters={"name": TEST_RUN_PREFIX})
    volumes = docker_client.volumes.list(filters={"name": TEST_RUN_PREFIX})
    return [container.attrs["Names"][0] for container in containers] + [volume.name for volume in volumes]


@contextmanager
def engine_input_volumes(
    docker_client: docker.DockerClient, *, max_bytes: int = 10**9
) -> Iterator[InputVolumes]:
    """The engine's input volumes for a test: on leaving, the holders and input volumes made meanwhile are
    removed (whatever happened), and no container or volume of a test run may be left."""
    holders_before = set(input_holders(docker_client))
    volumes_before = input_volume_names(docker_client)
    try:
        yield InputVolumes(client=docker_client, max_bytes=max_bytes)
    finally:
        for holder_id in set(input_holders(docker_client)) - holders_before:
            with suppress(docker.errors.NotFound):
                docker_client.api.remove_container(holder_id, force=True)
        for name in input_volume_names(docker_client) - volumes_before:
            try:
                docker_client.api.remove_volume(name, force=True)
            except docker.errors.APIError as error:
                # Gone, or mounted by a run of another process on the same engine (its own to remove).
                if error.status_code not in {404, 409}:
                    raise
    assert runs_left(docker_client) == []
