"""Running an algorithm container in the sandbox every participant container gets.

One run is one container on one staged case: no network, every capability dropped, no new privileges, the
image's own non-root user, a read-only root with a size-limited tmpfs at ``/tmp``, pids, memory (with no
extra swap) and CPU limits, the case at ``/input`` (read-only) and a writable ``/output``, nothing else of
the host, an empty environment, and one GPU only when the worker names its device. The run is killed when
it passes its time limit or writes more than the output cap, and the container is always removed.

``/input`` and ``/output`` reach the container one of two ways:
- bind mounts of the worker's folders (``input_volumes`` None): the engine must see the worker's disk;
- named volumes (``input_volumes`` given), filled and emptied through the engine's API, never a folder of
  the worker, so the worker works the same with a local engine, with the host's engine through its socket
  from inside a container, and with a remote ``DOCKER_HOST``. ``/input`` is the case's read-only volume,
  filled once per case and engine and kept (``inference.volumes``); ``/output`` is a volume of the run,
  opened to any user through a container that never starts, copied out with ``get_archive`` as the
  worker's own files whichever uid wrote them, measured the same way against the cap while the run goes,
  and removed after the run whatever happens.

``docker_run_command`` is the same sandbox as a command line for a participant's machine.
``run_failure_sentence`` turns an outcome into what the participant reads; ``output_clear`` removes what
the run left in the worker's output folder, whichever user wrote it.
"""

import contextlib
import io
import os
import shutil
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final

import docker
import docker.errors
import docker.types
import requests.exceptions
from docker.models.containers import Container

from inference.contract import folder_make_readable
from inference.image_checks import image_user_is_root
from inference.interfaces import SandboxLimits, docker_run_command
from inference.volumes import InputVolumes, io_helper_image

__all__ = [
    "ContainerRefused",
    "RunOutcome",
    "SandboxLimits",
    "container_remove",
    "container_run",
    "docker_run_command",
    "image_load",
    "output_clear",
    "output_size_bytes",
    "run_failure_sentence",
]

LOG_TAIL_LINES: Final = 500
# The engine keeps at most this much log per container, so a run that floods its log cannot fill the disk.
LOG_MAX_SIZE: Final = "10m"
# How often a running container's output is measured against the cap; a flood overshoots the cap by at
# most what it writes in this time before it is killed, and the check after the run still catches it.
# Through the engine a measurement reads the output's archive (at most up to the cap), so a run whose
# output takes long to read is measured less often: never more than a fifth of the time goes to measuring.
_OUTPUT_POLL_S: Final = 0.2
_OUTPUT_POLL_SHARE: Final = 0.2
_BLOCK_BYTES: Final = 4096
_READ_BUFFER_BYTES: Final = 2**20
_LABEL_RUN: Final = "isles-portal.run"
_KILLED_EXIT_CODE: Final = 137
_WAIT_ERRORS: Final = (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError)


class ContainerRefused(Exception):
    """The image may not run at all (it runs as root, or the engine does not have it); a sentence to show."""


@dataclass(frozen=True)
class RunOutcome:
    """How one run ended, with the tails of its logs."""

    exit_code: int
    timed_out: bool
    oom: bool
    output_over_cap: bool
    stdout_tail: str
    stderr_tail: str
    duration_s: float
    had_gpu: bool

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.oom or self.output_over_cap)


def image_load(*, client: docker.DockerClient, tar_path: Path, image_id: str) -> str:
    """Load a ``docker save`` archive (plain or gzip) into the engine once; return the image id.

    ``image_id`` is the digest the upload checks read from the archive: when the engine already holds that
    image, nothing is read, so every job after the first on a worker starts at once.
    """
    try:
        return str(client.images.get(image_id).id)
    except docker.errors.ImageNotFound:
        pass
    with tar_path.open("rb") as archive:
        client.images.load(archive)
    return str(client.images.get(image_id).id)


def container_run(
    *,
    client: docker.DockerClient,
    image: str,
    input_folder: Path,
    output_folder: Path,
    limits: SandboxLimits,
    gpu_device: str | None,
    name: str | None = None,
    input_volumes: InputVolumes | None = None,
    input_digest: str | None = None,
) -> RunOutcome:
    """Run ``image`` on the case staged in ``input_folder``; its results land in ``output_folder``.

    Raises ``ContainerRefused`` before anything runs when the image runs as root. The container's user may
    be any uid: the case is readable by anyone (folders 0755, files 0644; the worker writes owner-only
    files, and the folder the two lie in keeps other users of the worker's machine out) and ``/output``
    writable by anyone (0777, it is this run's own). With ``input_volumes`` the case is copied into (or
    found in) its input volume, ``input_digest`` naming it (``inference.contract.staged_inputs_digest``;
    the folder is hashed when None), and the output is copied out of the run's own volume into
    ``output_folder`` as the worker's files, up to the cap; without, both folders are bind-mounted. The
    container (and the run's output volume) is removed whatever happens. ``name`` names the container and
    its volume, so a worker that takes over a job can find (and remove) what a worker that died left.
    """
    user = _image_user(client, image)
    if input_volumes is None:
        return _bind_mounted_run(
            client,
            image,
            user=user,
            input_folder=input_folder,
            output_folder=output_folder,
            limits=limits,
            gpu_device=gpu_device,
            name=name,
        )
    run = name or f"isles-run-{uuid.uuid4().hex}"
    output_volume = _output_volume_name(run)
    output_mount = docker.types.Mount("/output", output_volume, no_copy=True, labels={_LABEL_RUN: run})
    _volume_remove(client, output_volume)  # a run of the same name that a dead worker left
    try:
        output_holder = _output_volume_open(client, output_volume, run=run)
        try:
            container = input_volumes.container_create(
                lambda input_volume: _sandbox_create(
                    client,
                    image,
                    user=user,
                    limits=limits,
                    gpu_device=gpu_device,
                    name=name,
                    mounts=[
                        docker.types.Mount("/input", input_volume, read_only=True, no_copy=True),
                        output_mount,
                    ],
                ),
                input_folder=input_folder,
                digest=input_digest,
            )
            try:
                return _container_watch(
                    container,
                    over_cap=lambda: _output_over_cap(output_holder, limits.output_max_bytes),
                    collect_over_cap=lambda: _output_copy(
                        output_holder, output_folder, limits.output_max_bytes
                    ),
                    limits=limits,
                    had_gpu=gpu_device is not None,
                )
            finally:
                container.remove(force=True)
        finally:
            output_holder.remove(force=True)
    finally:
        _volume_remove(client, output_volume)


def container_remove(*, client: docker.DockerClient, name: str) -> bool:
    """Remove the container called ``name``, running or not, and its output volume; whether there was one.

    A worker killed in the middle of a run leaves its container running with nobody to stop it at the
    time limit; the worker that takes the job over removes it first.
    """
    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        found = False
    else:
        found = True
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(f"{name}-output-holder").remove(force=True)
    _volume_remove(client, _output_volume_name(name))
    return found


def output_clear(*, client: docker.DockerClient, image: str, output_folder: Path) -> None:
    """Remove everything a run left in ``output_folder``, whoever owns it; the folder itself stays.

    What the container wrote belongs to its user (any uid), and a worker that runs as another user (uid
    1000 in the portal's image) may remove the entries of ``output_folder`` (its own, 0777) but not what
    lies in the folders the container made. So what the worker cannot remove goes through the engine: a
    container of ``image`` that never starts gets ``output_folder`` at ``/output`` and an archive with an
    empty file of the worker's for each entry left. The engine, which runs as root, replaces each entry,
    a folder with all it holds, by that file, and the worker removes the files.
    """
    try:
        _folder_empty(output_folder)
    except PermissionError:
        _entries_replace_through_engine(client, image, output_folder)
        _folder_empty(output_folder)


def output_size_bytes(folder: Path) -> int:
    """Bytes under ``folder``: links count as themselves (never followed), and every file or folder as at
    least one block, so a flood of empty files reaches the cap as surely as one big file."""
    total = 0
    for directory, folders, files in os.walk(folder):
        total += _BLOCK_BYTES * len(folders)
        for name in files:
            try:
                total += max(os.lstat(os.path.join(directory, name)).st_size, _BLOCK_BYTES)
            except FileNotFoundError:
                continue  # removed by the still-running container between listing and measuring
    return total


def run_failure_sentence(outcome: RunOutcome, *, limits: SandboxLimits) -> str | None:
    """Why a run failed, as a sentence for the participant; None when it succeeded."""
    if outcome.timed_out:
        return f"The algorithm did not finish within {limits.time_limit_s:g} s and was stopped."
    if outcome.output_over_cap:
        return (
            f"The algorithm wrote more than the output limit of {limits.output_max_bytes / 1e6:.3g} MB"
            " to /output and was stopped; write only the segmentation."
        )
    if outcome.oom or outcome.exit_code == _KILLED_EXIT_CODE:
        return f"The algorithm ran out of memory (limit {limits.memory_bytes / 1e9:.3g} GB) and was stopped."
    if outcome.exit_code != 0:
        return f"The algorithm exited with code {outcome.exit_code}; its log shows what went wrong."
    return None


def _folder_empty(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _entries_replace_through_engine(client: docker.DockerClient, image: str, folder: Path) -> None:
    """Have the engine replace every entry of ``folder`` by an empty file of this process's user.

    Unpacking an archive into a container replaces an existing path by the archive's entry of another
    kind, a folder by a file included (the API's ``noOverwriteDirNonDir``, off unless asked for).
    """
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in folder.iterdir():
            member = tarfile.TarInfo(entry.name)
            member.uid, member.gid, member.mode = os.getuid(), os.getgid(), 0o600
            tar.addfile(member)
    container = client.containers.create(
        image,
        # It never starts: the engine only unpacks the archive into its /output.
        entrypoint=["/never-started"],
        network_mode="none",
        read_only=True,
        volumes={str(folder.resolve()): {"bind": "/output", "mode": "rw"}},
    )
    try:
        container.put_archive("/output", archive.getvalue())
    finally:
        container.remove(force=True)


def _bind_mounted_run(
    client: docker.DockerClient,
    image: str,
    *,
    user: str,
    input_folder: Path,
    output_folder: Path,
    limits: SandboxLimits,
    gpu_device: str | None,
    name: str | None,
) -> RunOutcome:
    folder_make_readable(input_folder)
    output_folder.chmod(0o777)
    container = _sandbox_create(
        client,
        image,
        user=user,
        limits=limits,
        gpu_device=gpu_device,
        name=name,
        volumes={
            str(input_folder.resolve()): {"bind": "/input", "mode": "ro"},
            str(output_folder.resolve()): {"bind": "/output", "mode": "rw"},
        },
    )
    try:
        return _container_watch(
            container,
            over_cap=lambda: output_size_bytes(output_folder) > limits.output_max_bytes,
            collect_over_cap=lambda: output_size_bytes(output_folder) > limits.output_max_bytes,
            limits=limits,
            had_gpu=gpu_device is not None,
        )
    finally:
        container.remove(force=True)


def _sandbox_create(
    client: docker.DockerClient,
    image: str,
    *,
    user: str,
    limits: SandboxLimits,
    gpu_device: str | None,
    name: str | None,
    **io: Any,
) -> Container:
    """The run's container, not started; ``io`` says how ``/input`` and ``/output`` reach it."""
    return client.containers.create(
        image,
        name=name,
        user=user,
        environment={},
        network_mode="none",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        read_only=True,
        # Executables in /tmp are allowed: compiled kernels (torch, numba) are written and loaded there.
        tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmpfs_bytes}"},
        pids_limit=limits.pids,
        mem_limit=limits.memory_bytes,
        memswap_limit=limits.memory_bytes,
        # The engine refuses more CPUs than its machine has: a phase set for a bigger worker gets them all.
        nano_cpus=int(min(limits.cpus, client.info()["NCPU"]) * 1e9),
        device_requests=_device_requests(gpu_device),
        log_config=docker.types.LogConfig(
            type=docker.types.LogConfig.types.JSON, config={"max-size": LOG_MAX_SIZE, "max-file": "1"}
        ),
        **io,
    )


def _output_volume_name(run: str) -> str:
    return f"{run}-output"


def _output_volume_open(client: docker.DockerClient, volume: str, *, run: str) -> Container:
    """Create the run's output volume, its root writable by any uid, and return the container that holds
    it: a container of the I/O helper image that never starts, through which the output is read (the
    volume takes the mode of the image's ``/output``, 0777, as it is first mounted)."""
    return client.containers.create(
        io_helper_image(client),
        name=f"{run}-output-holder",
        entrypoint=["/never-started"],
        network_mode="none",
        labels={_LABEL_RUN: run},
        mounts=[docker.types.Mount("/output", volume, labels={_LABEL_RUN: run})],
    )


def _volume_remove(client: docker.DockerClient, name: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_volume(name, force=True)


class _ChunkReader(io.RawIOBase):
    """A file reading the chunks of an engine's stream, for ``tarfile``'s stream mode."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _member_bytes(member: tarfile.TarInfo) -> int:
    """What an entry of the output counts against the cap: its size, and at least one block, so a flood
    of empty files or folders reaches the cap as surely as one big file (as ``output_size_bytes``)."""
    return _BLOCK_BYTES if member.isdir() else max(member.size, _BLOCK_BYTES)


@contextlib.contextmanager
def _output_members(container: Container) -> Iterator[tuple[tarfile.TarFile, Iterator[tarfile.TarInfo]]]:
    """The entries of the container's ``/output`` as the engine archives them, read as a stream; the
    output volume's root itself is left out and every name is relative to it."""
    chunks, _ = container.get_archive("/output")
    reader: IO[bytes] = io.BufferedReader(_ChunkReader(iter(chunks)), buffer_size=_READ_BUFFER_BYTES)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            yield tar, _relative_members(tar)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def _relative_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The archive's entries named relative to ``/output`` (a hard link's target too), the root left out."""
    for member in tar:
        relative = member.name.partition("/")[2]
        if not relative:
            continue
        member.name = relative
        if member.islnk():
            member.linkname = member.linkname.partition("/")[2]
        yield member


def _output_over_cap(container: Container, max_bytes: int) -> bool:
    """Whether the container's ``/output`` holds more than ``max_bytes``, read through the engine (at most
    up to the cap)."""
    total = 0
    with _output_members(container) as (_, members):
        for member in members:
            total += _member_bytes(member)
            if total > max_bytes:
                return True
    return False


def _output_copy(container: Container, output_folder: Path, max_bytes: int) -> bool:
    """Copy the container's ``/output`` into ``output_folder`` as the worker's own files (folders 0755,
    files 0644, symbolic links kept as links, a hard link as a copy of what it links to, nothing else;
    nothing written outside ``output_folder``); whether it held more than ``max_bytes`` (then the copy
    stops there). Written by hand rather than with ``tarfile``'s extraction filters, which Python has
    since 3.11.4 only (the portal's image has Debian bookworm's 3.11.2)."""
    total = 0
    with _output_members(container) as (tar, members):
        for member in members:
            total += _member_bytes(member)
            if total > max_bytes:
                return True
            target = _inside(output_folder, member.name)
            if target is None or os.path.lexists(target):
                continue  # a name that leads out of the folder, or one given twice
            if member.isdir():
                target.mkdir(mode=0o755)
                target.chmod(0o755)
            elif member.issym():
                target.symlink_to(member.linkname)
            elif member.isfile():
                source = tar.extractfile(member)
                if source is not None:
                    _file_write(target, source)
            elif member.islnk():
                linked = _inside(output_folder, member.linkname)
                if linked is not None and linked.is_file() and not linked.is_symlink():
                    with linked.open("rb") as source:
                        _file_write(target, source)
    return False


def _inside(folder: Path, name: str) -> Path | None:
    """``folder / name`` when it stays inside ``folder``: no absolute name, no "..", and no link on the way
    (the container may have made ``/output/x`` a link to anywhere); None otherwise."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
        return None
    parent = folder
    for part in parts[:-1]:
        parent = parent / part
        if parent.is_symlink() or not parent.is_dir():
            return None
    return parent / parts[-1]


def _file_write(target: Path, source: IO[bytes]) -> None:
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(descriptor, "wb") as written:
        shutil.copyfileobj(source, written, _READ_BUFFER_BYTES)
    target.chmod(0o644)


def _image_user(client: docker.DockerClient, image: str) -> str:
    try:
        config = client.images.get(image).attrs.get("Config") or {}
    except docker.errors.ImageNotFound:
        raise ContainerRefused(f"The image {image} is not loaded on this worker.") from None
    user = str(config.get("User") or "")
    if image_user_is_root(user):
        raise ContainerRefused(
            f"The image runs as root (USER is {user or 'not set'});"
            " add a non-root user, e.g. `USER 1000:1000`."
        )
    return user


def _log_tail(container: Container, *, stdout: bool) -> str:
    """The last ``LOG_TAIL_LINES`` lines of one stream (the engine's own ``tail`` counts both streams)."""
    log = container.logs(stdout=stdout, stderr=not stdout).decode(errors="replace")
    lines = log.splitlines(keepends=True)
    return "".join(lines[-LOG_TAIL_LINES:])


def _device_requests(gpu_device: str | None) -> list[docker.types.DeviceRequest]:
    if gpu_device is None:
        return []
    return [docker.types.DeviceRequest(device_ids=[gpu_device], capabilities=[["gpu"]])]


def _container_watch(
    container: Container,
    *,
    over_cap: Callable[[], bool],
    collect_over_cap: Callable[[], bool],
    limits: SandboxLimits,
    had_gpu: bool,
) -> RunOutcome:
    """Start the container and wait for it, killing it at the time limit or when ``over_cap()`` says its
    output passed the cap; then ``collect_over_cap()`` delivers the output and says whether it did."""
    started = time.monotonic()
    deadline = started + limits.time_limit_s
    container.start()
    exit_code: int | None = None
    timed_out = output_over_cap = False
    poll_s = _OUTPUT_POLL_S
    while exit_code is None:
        remaining = deadline - time.monotonic()
        if remaining > 0:
            try:
                exit_code = int(container.wait(timeout=min(poll_s, remaining))["StatusCode"])
                break
            except _WAIT_ERRORS:
                measured = time.monotonic()
                output_over_cap = over_cap()
                poll_s = max(_OUTPUT_POLL_S, (time.monotonic() - measured) / _OUTPUT_POLL_SHARE)
        timed_out = deadline - time.monotonic() <= 0
        if timed_out or output_over_cap:
            container.kill()
            exit_code = int(container.wait()["StatusCode"])
    duration_s = time.monotonic() - started
    container.reload()
    oom = bool(container.attrs["State"].get("OOMKilled")) and not timed_out
    collected_over_cap = collect_over_cap()
    return RunOutcome(
        exit_code=exit_code,
        timed_out=timed_out,
        oom=oom,
        output_over_cap=output_over_cap or collected_over_cap,
        stdout_tail=_log_tail(container, stdout=True),
        stderr_tail=_log_tail(container, stdout=False),
        duration_s=duration_s,
        had_gpu=had_gpu,
    )
