"""Where an algorithm container runs: the protocol a worker runs jobs through, the Docker runtime and a fake.

A runtime runs an image on one staged case and delivers what the container wrote: the runner stages the
case into a local folder of the worker's and names a local folder to receive the output; how the two get
into and out of the container is the runtime's business (``DockerRuntime`` bind-mounts them, or copies
them through the engine's API into volumes, so the engine may be local, reached through a socket from
inside a container, or remote). The
outcome (exit code, time-out, out of memory, output over the cap, log tails) reads the same whichever
runtime ran it, so ``run_failure_sentence`` says the same thing for the same failure.

``FakeRuntime`` runs a Python callable as "the container", in this process, so the portal's job flow can
be tested without Docker. It isolates nothing: the callable runs with the worker's powers.
"""

import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple, Protocol

import docker

from inference.sandbox import (
    LOG_TAIL_LINES,
    ContainerRefused,
    RunOutcome,
    SandboxLimits,
    container_remove,
    container_run,
    image_load,
    output_clear,
    output_size_bytes,
)
from inference.volumes import InputVolumes, engine_sees

__all__ = ["Algorithm", "ContainerRuntime", "DockerRuntime", "FakeRun", "FakeRuntime"]

# The exit code of a container the engine killed (SIGKILL): at the time limit, or out of memory.
_KILLED_EXIT_CODE: Final = 137


class ContainerRuntime(Protocol):
    """Runs participants' images in the sandbox: load once, run on a staged case, clear what it wrote."""

    def image_prepare(self, *, image_id: str, archive: Callable[[], Path]) -> str:
        """Make the image ``image_id`` (the digest the upload checks read) runnable, once per digest;
        return the reference ``run`` takes. ``archive`` gives a local ``docker save`` tar of it (plain or
        gzip) and is called only when the runtime lacks the image, so a worker fetches an archive once.
        Raises ``ContainerRefused`` with a sentence when it cannot be."""
        ...

    def run(
        self,
        *,
        image: str,
        input_folder: Path,
        output_folder: Path,
        limits: SandboxLimits,
        gpu_device: str | None,
        name: str | None = None,
        input_digest: str | None = None,
    ) -> RunOutcome:
        """Run ``image`` on the case staged in ``input_folder`` (the container's ``/input``), within
        ``limits``, with the GPU ``gpu_device`` or none; when it returns, what the container wrote to
        ``/output`` lies in ``output_folder`` (an empty folder of the worker's). ``name`` names the run,
        so a worker that takes a job over can remove what a dead worker left (``leftover_remove``).
        ``input_digest`` names the staged inputs (``inference.contract.staged_inputs_digest``), so a
        runtime may keep them for the next run on the same case.
        Raises ``ContainerRefused`` with a sentence before anything runs when the image may not run."""
        ...

    def output_clear(self, *, image: str, output_folder: Path) -> None:
        """Remove everything a run of ``image`` delivered into ``output_folder``, whichever user wrote
        it; the folder itself stays."""
        ...

    def leftover_remove(self, *, name: str) -> bool:
        """Remove the run called ``name`` that a dead worker left, running or not; whether there was one."""
        ...

    def close(self) -> None:
        """Release the runtime's connections; it is not used afterwards."""
        ...


class DockerRuntime:
    """Runs images on a Docker engine, in ``inference.sandbox``'s sandbox: with ``input_volumes`` the
    case is copied into its read-only input volume (kept for later runs on the case) and the output copied
    out of a volume of the run, so the engine need not see the worker's disk; without, the case's folders
    are bind-mounted at ``/input`` (read-only) and ``/output``. ``close`` closes ``client``."""

    def __init__(self, client: docker.DockerClient, *, input_volumes: InputVolumes | None = None) -> None:
        self._client = client
        self._input_volumes = input_volumes

    @classmethod
    def with_container_io(
        cls, client: docker.DockerClient, *, container_io: str, input_volumes_max_bytes: int
    ) -> "DockerRuntime":
        """The runtime a worker's ``ISLES_CONTAINER_IO`` asks for: "volumes" (each case copied once into a
        read-only input volume kept on the engine, at most ``input_volumes_max_bytes`` of them), "bind"
        (the job's folders bind-mounted, for a worker whose engine sees its disk), or "auto": bind when
        the engine sees this process's temporary folder (where jobs are staged), else volumes, asked of
        the engine once per process (``inference.volumes.engine_sees``)."""
        if container_io == "auto":
            container_io = "bind" if _engine_sees_temporary_folder(client) else "volumes"
        if container_io == "bind":
            return cls(client)
        if container_io != "volumes":
            raise ValueError(f"The container I/O is {container_io!r}; it must be auto, volumes or bind.")
        return cls(client, input_volumes=InputVolumes(client=client, max_bytes=input_volumes_max_bytes))

    @property
    def container_io(self) -> str:
        """How a run's folders reach its container: "volumes" or "bind"."""
        return "bind" if self._input_volumes is None else "volumes"

    def image_prepare(self, *, image_id: str, archive: Callable[[], Path]) -> str:
        with contextlib.suppress(docker.errors.ImageNotFound):
            return str(self._client.images.get(image_id).id)
        return image_load(client=self._client, tar_path=archive(), image_id=image_id)

    def run(
        self,
        *,
        image: str,
        input_folder: Path,
        output_folder: Path,
        limits: SandboxLimits,
        gpu_device: str | None,
        name: str | None = None,
        input_digest: str | None = None,
    ) -> RunOutcome:
        return container_run(
            client=self._client,
            image=image,
            input_folder=input_folder,
            output_folder=output_folder,
            limits=limits,
            gpu_device=gpu_device,
            name=name,
            input_volumes=self._input_volumes,
            input_digest=input_digest,
        )

    def output_clear(self, *, image: str, output_folder: Path) -> None:
        output_clear(client=self._client, image=image, output_folder=output_folder)

    def leftover_remove(self, *, name: str) -> bool:
        return container_remove(client=self._client, name=name)

    def close(self) -> None:
        self._client.close()


# Whether an engine (by its address) sees this process's temporary folder: asked once per process.
_ENGINE_SEES_TEMPORARY_FOLDER: dict[str, bool] = {}


def _engine_sees_temporary_folder(client: docker.DockerClient) -> bool:
    address = str(client.api.base_url)
    if address not in _ENGINE_SEES_TEMPORARY_FOLDER:
        _ENGINE_SEES_TEMPORARY_FOLDER[address] = engine_sees(client, Path(tempfile.gettempdir()))
    return _ENGINE_SEES_TEMPORARY_FOLDER[address]


# "The container" of a fake image: reads the case in its first folder, writes its output into the
# second, and returns its exit code (None for 0), as ``sys.exit`` takes one.
Algorithm = Callable[[Path, Path], int | None]


@dataclass(frozen=True)
class FakeRun:
    """One run a ``FakeRuntime`` made: what it was asked to run and how it ended."""

    image: str
    name: str | None
    gpu_device: str | None
    outcome: RunOutcome


class FakeRuntime:
    """Runs Python callables as the images, in this process: ``FakeRuntime({image_id: algorithm})``.

    It behaves as ``DockerRuntime`` wherever the job flow can notice: an unknown image is refused with a
    sentence, the callable's stdout and stderr become the log tails, an exception exits with code 1 and
    its traceback in stderr, ``sys.exit(code)`` exits with ``code``, a ``MemoryError`` is the engine's
    out-of-memory kill (137), and output over the cap is reported (with the callable's own exit code, as
    when Docker finds it after the container ended). A run over the time limit is not stopped (a callable
    cannot be), but its outcome says it timed out, with the kill's exit code, as Docker's does.

    Runs happen one at a time (stdout and stderr are redirected for the whole process), and each is
    recorded in ``runs``. ``leftovers`` holds the names of runs a dead worker left behind: a test adds
    one to play the worker that died.
    """

    def __init__(self, algorithms: Mapping[str, Algorithm]) -> None:
        self._algorithms = dict(algorithms)
        self.runs: list[FakeRun] = []
        self.leftovers: set[str] = set()

    def image_prepare(self, *, image_id: str, archive: Callable[[], Path]) -> str:
        if image_id not in self._algorithms:
            raise ContainerRefused(f"The image {image_id} could not be loaded on this worker.")
        return image_id

    def run(
        self,
        *,
        image: str,
        input_folder: Path,
        output_folder: Path,
        limits: SandboxLimits,
        gpu_device: str | None,
        name: str | None = None,
        input_digest: str | None = None,
    ) -> RunOutcome:
        algorithm = self._algorithms.get(image)
        if algorithm is None:
            raise ContainerRefused(f"The image {image} is not loaded on this worker.")
        stdout, stderr = io.StringIO(), io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            ended = _algorithm_call(algorithm, input_folder, output_folder)
        duration_s = time.monotonic() - started
        timed_out = duration_s > limits.time_limit_s
        outcome = RunOutcome(
            exit_code=_KILLED_EXIT_CODE if timed_out else ended.exit_code,
            timed_out=timed_out,
            oom=ended.oom and not timed_out,
            output_over_cap=output_size_bytes(output_folder) > limits.output_max_bytes,
            stdout_tail=_log_tail(stdout.getvalue()),
            stderr_tail=_log_tail(stderr.getvalue()),
            duration_s=duration_s,
            had_gpu=gpu_device is not None,
        )
        self.runs.append(FakeRun(image=image, name=name, gpu_device=gpu_device, outcome=outcome))
        return outcome

    def output_clear(self, *, image: str, output_folder: Path) -> None:
        # The callable wrote as the worker's user, but may have taken its own write access away.
        for directory, folders, _ in os.walk(output_folder):
            for folder_name in folders:
                folder = Path(directory, folder_name)
                if not folder.is_symlink():
                    folder.chmod(0o700)
        for entry in output_folder.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def leftover_remove(self, *, name: str) -> bool:
        if name not in self.leftovers:
            return False
        self.leftovers.remove(name)
        return True

    def close(self) -> None:
        """Nothing to release."""


class _Ended(NamedTuple):
    exit_code: int
    oom: bool


def _algorithm_call(algorithm: Algorithm, input_folder: Path, output_folder: Path) -> _Ended:
    """Run ``algorithm`` as a process would end: its exit code, an exception's traceback on stderr."""
    try:
        code = algorithm(input_folder, output_folder)
    except SystemExit as exit_request:
        if exit_request.code is None or isinstance(exit_request.code, int):
            return _Ended(exit_code=exit_request.code or 0, oom=False)
        print(exit_request.code, file=sys.stderr)  # as Python does with sys.exit("a message")
        return _Ended(exit_code=1, oom=False)
    except MemoryError:
        # The engine kills a container at its memory limit: exit 137 and no traceback.
        return _Ended(exit_code=_KILLED_EXIT_CODE, oom=True)
    except Exception:
        traceback.print_exc()
        return _Ended(exit_code=1, oom=False)
    return _Ended(exit_code=code or 0, oom=False)


def _log_tail(log: str) -> str:
    """The last ``LOG_TAIL_LINES`` lines, as the Docker runtime keeps them."""
    return "".join(log.splitlines(keepends=True)[-LOG_TAIL_LINES:])
