"""Running an algorithm container in the sandbox every participant container gets.

One run is one container on one staged case: no network, every capability dropped, no new privileges, the
image's own non-root user, a read-only root with a size-limited tmpfs at ``/tmp``, pids, memory (with no
extra swap) and CPU limits, the input folder mounted read-only at ``/input`` and the output folder
writable at ``/output``, nothing else of the host, an empty environment, and one GPU only when the worker
names its device. The run is killed when it passes its time limit or writes more than the output cap, and
the container is always removed. ``docker_run_command`` is the same sandbox as a command line for a
participant's machine. ``run_failure_sentence`` turns an outcome into what the participant reads;
``output_clear`` removes what the run wrote, whichever user wrote it.
"""

import io
import os
import shutil
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import docker
import docker.errors
import docker.types
import requests.exceptions
from docker.models.containers import Container

from inference.contract import folder_make_readable
from inference.image_checks import image_user_is_root
from inference.interfaces import SandboxLimits, docker_run_command

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
# How often a running container's output folder is measured against the cap; a flood overshoots the cap by
# at most what it writes in this time before it is killed, and the check after the run still catches it.
_OUTPUT_POLL_S: Final = 0.2
_BLOCK_BYTES: Final = 4096
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
) -> RunOutcome:
    """Run ``image`` on the case staged in ``input_folder``; its results land in ``output_folder``.

    Raises ``ContainerRefused`` before anything runs when the image runs as root. The folders are made
    usable by the container's user, whatever its uid: everything in the input readable (folders 0755,
    files 0644; the worker writes owner-only files, and the folder the two lie in keeps other users of
    the worker's machine out), the output writable by anyone (0777, it is this run's own folder). The
    container is removed whatever happens. ``name`` names the container, so a worker that takes over a
    job can find (and remove) the container of a worker that died.
    """
    user = _image_user(client, image)
    folder_make_readable(input_folder)
    output_folder.chmod(0o777)
    container = client.containers.create(
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
        volumes={
            str(input_folder.resolve()): {"bind": "/input", "mode": "ro"},
            str(output_folder.resolve()): {"bind": "/output", "mode": "rw"},
        },
        device_requests=_device_requests(gpu_device),
        log_config=docker.types.LogConfig(
            type=docker.types.LogConfig.types.JSON, config={"max-size": LOG_MAX_SIZE, "max-file": "1"}
        ),
    )
    try:
        return _container_watch(
            container, output_folder=output_folder, limits=limits, had_gpu=gpu_device is not None
        )
    finally:
        container.remove(force=True)


def container_remove(*, client: docker.DockerClient, name: str) -> bool:
    """Remove the container called ``name``, running or not; whether there was one.

    A worker killed in the middle of a run leaves its container running with nobody to stop it at the
    time limit; the worker that takes the job over removes it first.
    """
    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        return False
    return True


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
    container: Container, *, output_folder: Path, limits: SandboxLimits, had_gpu: bool
) -> RunOutcome:
    """Start the container and wait for it, killing it at the time limit or when its output passes the cap."""
    started = time.monotonic()
    deadline = started + limits.time_limit_s
    container.start()
    exit_code: int | None = None
    timed_out = over_cap = False
    while exit_code is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
        elif output_size_bytes(output_folder) > limits.output_max_bytes:
            over_cap = True
        if timed_out or over_cap:
            container.kill()
            exit_code = int(container.wait()["StatusCode"])
            break
        try:
            exit_code = int(container.wait(timeout=min(_OUTPUT_POLL_S, remaining))["StatusCode"])
        except _WAIT_ERRORS:
            continue
    duration_s = time.monotonic() - started
    container.reload()
    oom = bool(container.attrs["State"].get("OOMKilled")) and not timed_out
    return RunOutcome(
        exit_code=exit_code,
        timed_out=timed_out,
        oom=oom,
        output_over_cap=over_cap or output_size_bytes(output_folder) > limits.output_max_bytes,
        stdout_tail=_log_tail(container, stdout=True),
        stderr_tail=_log_tail(container, stdout=False),
        duration_s=duration_s,
        had_gpu=had_gpu,
    )
