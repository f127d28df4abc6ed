"""Read-only input volumes on a Docker engine: one per staged case, filled once, mounted by every run on it.

A worker whose engine does not see its disk (it reaches the engine through a socket from inside a container,
or a remote ``DOCKER_HOST``) copies a case's inputs into a named volume through the engine's API. A
full-size ISLES'24 case is about 1 GB of converted ``.mha``: copied for every job that costs seconds, so a
case's volume is kept on the engine, found by the digest of the staged inputs
(``inference.contract.staged_inputs_digest``), and every later run on that case mounts it read-only.

A volume is filled through a holder: a container that never starts, of the engine's I/O helper image
(``io_helper_image``: an imported image holding nothing but an ``/output`` folder open to anyone),
created under a temporary name (``isles-filling-...``) with the volume mounted writable (the engine
refuses to unpack an archive into a read-only mount). Once the whole archive is in, the holder is renamed
``isles-input-<digest>-<stamp>`` (a rename is atomic): only a renamed holder names a volume runs may use,
so a volume a dead worker left half-filled is never mounted (the sweep removes it and its holder after an
hour). Two workers filling the same case at once each fill a volume of their own; both are whole.

Each use renames the holder with the time of use (the one thing about a container the engine lets one
change), and when the volumes' sizes (a label of their holders) pass ``max_bytes`` after a fill, the least
recently used go with their holders. A volume that a run still mounts cannot be removed: it stays, without
its holder, until a later sweep finds nobody mounts it. A run that found a holder creates its container
(which keeps the volume from being removed) and then checks that the holder is still there; if it was
removed meanwhile the run fills again, since the engine creates an empty volume for a name it lacks.
"""

import contextlib
import hashlib
import io
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import docker
import docker.errors
import docker.types
from docker.models.containers import Container

__all__ = [
    "IO_HELPER_IMAGE",
    "LABEL_DIGEST",
    "LABEL_ROLE",
    "InputVolumes",
    "folder_digest",
    "io_helper_image",
]

# The image of the containers that never start through which volumes are filled, opened and read.
IO_HELPER_IMAGE: Final = "isles-portal/io-helper:1"

LABEL_ROLE: Final = "isles-portal.role"
LABEL_DIGEST: Final = "isles-portal.input-digest"
_LABEL_BYTES: Final = "isles-portal.input-bytes"
_LABEL_VOLUME: Final = "isles-portal.input-volume"
_ROLE_HOLDER: Final = "input-holder"
_ROLE_VOLUME: Final = "input"
_FILLING_PREFIX: Final = "isles-filling-"
_HOLDER_PREFIX: Final = "isles-input-"
# A fill this old was left by a worker that died while filling (a full-size case takes seconds).
_FILL_MAX_AGE_S: Final = 3600
# A run whose volume is evicted between finding and mounting it fills again; this many times at most.
_ATTEMPTS: Final = 3
_READ_CHUNK_BYTES: Final = 1 << 20


@dataclass(frozen=True)
class _Held:
    """A whole input volume and the holder that says so."""

    volume: str
    holder_id: str


@dataclass(frozen=True)
class InputVolumes:
    """The engine's read-only input volumes of staged cases, at most ``max_bytes`` in all after each fill
    (the volumes runs are mounting excepted)."""

    client: docker.DockerClient
    max_bytes: int

    def container_create(
        self, create: Callable[[str], Container], *, input_folder: Path, digest: str | None
    ) -> Container:
        """The run's container, made by ``create(volume)`` with ``volume`` at ``/input``: the case's whole
        input volume, found by ``digest`` or filled from ``input_folder`` (hashed when ``digest`` is None).
        The volume stays for the next run; the caller removes the container."""
        digest = digest or folder_digest(input_folder)
        for _ in range(_ATTEMPTS):
            held = self._find(digest)
            if held is None:
                held = self._fill(input_folder=input_folder, digest=digest)
                self.evict(keep=held.volume)
            container = create(held.volume)
            if self._still_held(held):
                return container
            container.remove(force=True)
            self._volume_remove_if_unused(held.volume)
        raise RuntimeError(
            f"The case's input volume was evicted {_ATTEMPTS} times before a run could mount it;"
            " raise the input volume cap (ISLES_INPUT_VOLUMES_MB) above a few cases' size."
        )

    def evict(self, *, keep: str | None = None) -> list[str]:
        """Remove the least recently used volumes (but ``keep``) with their holders until the rest hold at
        most ``max_bytes``, holders of fills older than an hour with their volumes, and input volumes no
        container mounts any more. Returns the names of the volumes removed."""
        removed = []
        held = []
        for holder in self.client.containers.list(
            all=True, sparse=True, filters={"label": f"{LABEL_ROLE}={_ROLE_HOLDER}"}
        ):
            labels = holder.attrs.get("Labels") or {}
            volume = labels.get(_LABEL_VOLUME, "")
            if not holder.attrs["Names"][0].lstrip("/").startswith(_FILLING_PREFIX):
                held.append(
                    (_stamp(holder.attrs["Names"][0]), int(labels.get(_LABEL_BYTES, "0")), volume, holder)
                )
            elif time.time() - int(holder.attrs["Created"]) > _FILL_MAX_AGE_S:
                _container_remove(holder)
                removed.append(volume)
        total = sum(size for _, size, _, _ in held)
        for _, size, volume, holder in sorted(held, key=lambda entry: entry[0]):
            if total <= self.max_bytes:
                break
            if volume != keep:
                _container_remove(holder)
                total -= size
                removed.append(volume)
        unused = self.client.volumes.list(
            filters={"label": f"{LABEL_ROLE}={_ROLE_VOLUME}", "dangling": "true"}
        )
        removed.extend(volume.name for volume in unused)
        return sorted({volume for volume in removed if self._volume_remove_if_unused(volume)})

    def _find(self, digest: str) -> _Held | None:
        """The most recently used whole volume of ``digest``, marked as used now; None when there is none."""
        holders = [
            holder
            for holder in self.client.containers.list(
                all=True, sparse=True, filters={"label": f"{LABEL_DIGEST}={digest}"}
            )
            if holder.attrs["Names"][0].lstrip("/").startswith(_HOLDER_PREFIX)
        ]
        for holder in sorted(holders, key=lambda found: _stamp(found.attrs["Names"][0]), reverse=True):
            try:
                holder.rename(_holder_name(digest))
            except docker.errors.NotFound:
                continue  # evicted meanwhile
            except docker.errors.APIError:
                pass  # renamed by another run at the same moment: used now all the same
            return _Held(volume=(holder.attrs.get("Labels") or {})[_LABEL_VOLUME], holder_id=holder.id)
        return None

    def _fill(self, *, input_folder: Path, digest: str) -> _Held:
        """Copy ``input_folder`` into a new volume through a new holder and mark it whole."""
        volume = f"{_HOLDER_PREFIX}{digest[:32]}-{uuid.uuid4().hex[:12]}"
        with tempfile.TemporaryFile(dir=input_folder.parent) as archive:
            with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT, dereference=True) as tar:
                tar.add(input_folder, arcname="input", filter=_readable_by_anyone)
            size = archive.tell()
            archive.seek(0)
            holder = self.client.containers.create(
                io_helper_image(self.client),
                name=f"{_FILLING_PREFIX}{volume.removeprefix(_HOLDER_PREFIX)}",
                entrypoint=["/never-started"],
                network_mode="none",
                labels={
                    LABEL_ROLE: _ROLE_HOLDER,
                    LABEL_DIGEST: digest,
                    _LABEL_BYTES: str(size),
                    _LABEL_VOLUME: volume,
                },
                # The holder creates the volume as it mounts it: no moment when nobody holds it.
                mounts=[
                    docker.types.Mount(
                        "/input",
                        volume,
                        no_copy=True,
                        labels={LABEL_ROLE: _ROLE_VOLUME, LABEL_DIGEST: digest},
                    )
                ],
            )
            try:
                holder.put_archive("/", archive)
                holder.rename(_holder_name(digest))
            except BaseException:
                _container_remove(holder)
                self._volume_remove_if_unused(volume)
                raise
        return _Held(volume=volume, holder_id=holder.id)

    def _still_held(self, held: _Held) -> bool:
        try:
            self.client.containers.get(held.holder_id)
        except docker.errors.NotFound:
            return False
        return True

    def _volume_remove_if_unused(self, name: str) -> bool:
        """Remove the volume ``name`` unless a container mounts it; whether it was removed."""
        try:
            self.client.api.remove_volume(name)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as error:
            if error.status_code == 409:  # in use: the run that mounts it will not be disturbed
                return False
            raise
        return True


def io_helper_image(client: docker.DockerClient) -> str:
    """The engine's I/O helper image, imported the first time (an archive of one folder: nothing is
    pulled). A volume first mounted at its ``/output`` gets that folder's mode, 0777, so a run's output
    volume is opened to any uid by creating a helper container, without copying anything in."""
    with contextlib.suppress(docker.errors.ImageNotFound):
        return str(client.images.get(IO_HELPER_IMAGE).id)
    content = io.BytesIO()
    with tarfile.open(fileobj=content, mode="w") as tar:
        output = tarfile.TarInfo("output")
        output.type, output.mode = tarfile.DIRTYPE, 0o777
        tar.addfile(output)
    repository, _, tag = IO_HELPER_IMAGE.partition(":")
    client.api.import_image_from_data(content.getvalue(), repository=repository, tag=tag)
    return str(client.images.get(IO_HELPER_IMAGE).id)


def engine_sees(client: docker.DockerClient, folder: Path) -> bool:
    """Whether the engine sees ``folder`` as this process does, so bind mounts of it work: a marker file
    written in a new folder under it is looked for through a container that never starts with that folder
    bind-mounted. False for a worker in a container that reaches the host's engine through its socket, or
    a remote engine (the engine has no such path, or another folder at it)."""
    with tempfile.TemporaryDirectory(prefix="isles-engine-probe-", dir=folder) as probe:
        marker = Path(probe) / f"marker-{uuid.uuid4().hex}"
        marker.touch()
        try:
            holder = client.containers.create(
                io_helper_image(client),
                entrypoint=["/never-started"],
                network_mode="none",
                mounts=[docker.types.Mount("/probe", probe, type="bind", read_only=True)],
            )
        except docker.errors.APIError as error:
            if error.status_code == 400:  # "bind source path does not exist"
                return False
            raise
        try:
            holder.get_archive(f"/probe/{marker.name}")
        except docker.errors.NotFound:
            return False
        finally:
            holder.remove(force=True)
    return True


def folder_digest(folder: Path) -> str:
    """The sha256 over every file's path, size and content under ``folder``, for a staged case whose
    images' stored digests are unknown (``staged_inputs_digest`` names them without reading them)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_dir() and not path.is_symlink():
            digest.update(f"{relative}/\n".encode())
            continue
        file_digest = hashlib.sha256()
        with path.open("rb") as content:
            while chunk := content.read(_READ_CHUNK_BYTES):
                file_digest.update(chunk)
        digest.update(f"{relative}\0{path.stat().st_size}\0{file_digest.hexdigest()}\n".encode())
    return digest.hexdigest()


def _holder_name(digest: str) -> str:
    return f"{_HOLDER_PREFIX}{digest}-{time.time_ns()}"


def _stamp(name: str) -> int:
    """When the holder called ``name`` was last used (nanoseconds since the epoch)."""
    return int(name.rpartition("-")[2])


def _readable_by_anyone(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.uid = member.gid = 0
    member.uname = member.gname = "root"
    member.mode = 0o755 if member.isdir() else 0o644
    return member


def _container_remove(container: Container) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        container.remove(force=True)
