"""Checks of an uploaded algorithm image, read from its ``docker save`` archive without Docker.

A participant uploads ``docker save IMAGE | gzip``: a tar (optionally gzip-compressed) holding
``manifest.json``, the image configuration as JSON and one tar per layer. The archive is read once, as a
stream, never extracted to disk: small JSON members are kept in memory, the size of everything else is
added up, and the reading stops as soon as the declared sizes pass the phase's cap, so an archive that
claims more than the cap (or a compression bomb) costs no more than the cap to read. Every problem found
is a sentence the participant can act on; all of them are raised together in one ``ImageRejected``, so a
second upload can fix them all.
"""

import hashlib
import json
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from evaluation.untrusted_text import untrusted_text

__all__ = ["ImageRejected", "ImageSummary", "image_tar_inspect", "image_user_is_root"]

# JSON members (manifest, configuration) are small; a bigger member is a layer, whose size alone matters.
_JSON_MEMBER_MAX_BYTES: Final = 1024 * 1024
_JSON_KEPT_MAX_BYTES: Final = 32 * 1024 * 1024
_ROOT_USERS: Final = frozenset({"", "root", "0"})
_EXPECTED_ARCHITECTURE: Final = "amd64"
_EXPECTED_OS: Final = "linux"
_HOW_TO_SAVE: Final = "save it with `docker save IMAGE | gzip > image.tar.gz` and upload that file"


class ImageRejected(Exception):
    """The archive is not an image we will run; ``problems`` holds one sentence per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(" ".join(self.problems))


@dataclass(frozen=True)
class ImageSummary:
    """What the checks read from an accepted image archive."""

    image_id: str  # "sha256:<hex>" of the configuration, as `docker images --digests` names the image
    repo_tags: tuple[str, ...]
    architecture: str
    os: str
    user: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    size_bytes: int


@dataclass(frozen=True)
class _ArchiveContents:
    json_members: Mapping[str, bytes]
    member_names: frozenset[str]
    size_bytes: int
    complete: bool  # False when the reading stopped at the size cap


def image_user_is_root(user: str) -> bool:
    """Whether an image's ``User`` runs as root: empty (the default), ``root`` or ``0``, any group."""
    return user.strip().split(":", 1)[0] in _ROOT_USERS


def image_tar_inspect(archive: Path | IO[bytes], *, max_size_bytes: int) -> ImageSummary:
    """Check the ``docker save`` archive (a path, or a binary file open at its start, read once from there
    on, such as a stored file in object storage) and return what the runtime needs to know of it.

    Raises ``ImageRejected`` with every problem found: not exactly one image, unreadable configuration,
    not linux/amd64, a root user, neither entrypoint nor command, bigger than ``max_size_bytes`` once
    unpacked, a missing layer; or a single sentence when the file is not a readable tar at all.
    """
    contents = _archive_read(archive, max_size_bytes=max_size_bytes)
    if not contents.complete and "manifest.json" not in contents.json_members:
        raise ImageRejected([_too_big(contents.size_bytes, max_size_bytes=max_size_bytes)])
    manifest = _manifest_single_image(contents)
    config_name = str(manifest.get("Config", ""))
    config_bytes = contents.json_members.get(config_name)
    if config_bytes is None:
        raise ImageRejected(
            [f"The image configuration {config_name!r} is missing from the archive; {_HOW_TO_SAVE}."]
        )
    try:
        config = json.loads(config_bytes)
    except ValueError:
        raise ImageRejected(
            [f"The image configuration {config_name!r} is not valid JSON; {_HOW_TO_SAVE}."]
        ) from None
    summary = _summary(config, manifest, config_bytes=config_bytes, size_bytes=contents.size_bytes)
    problems = _problems(summary, max_size_bytes=max_size_bytes)
    problems += [
        f"Layer {untrusted_text(layer)} is listed in manifest.json but missing from the archive; the upload "
        "may be cut short."
        for layer in _strings(manifest.get("Layers"))
        if contents.complete and layer not in contents.member_names
    ]
    if problems:
        raise ImageRejected(problems)
    return summary


def _tar_stream(archive: Path | IO[bytes]) -> tarfile.TarFile:
    """The archive (a path or an open file, gzip or plain) as a tar read in one pass."""
    if isinstance(archive, Path):
        return tarfile.open(archive, mode="r|*")
    return tarfile.open(fileobj=archive, mode="r|*")


def _archive_read(archive: Path | IO[bytes], *, max_size_bytes: int) -> _ArchiveContents:
    """Stream the archive once (gzip or plain), keeping small JSON members and adding up the sizes, up to
    the member whose declared size takes the total past ``max_size_bytes``: nothing after it is read."""
    json_members: dict[str, bytes] = {}
    names: set[str] = set()
    kept_bytes = 0
    size_bytes = 0
    try:
        with _tar_stream(archive) as members:
            for member in members:
                names.add(member.name)
                size_bytes += member.size
                if size_bytes > max_size_bytes:
                    return _ArchiveContents(json_members, frozenset(names), size_bytes, complete=False)
                if not member.isfile() or member.size > _JSON_MEMBER_MAX_BYTES:
                    continue
                handle = members.extractfile(member)
                data = handle.read() if handle is not None else b""
                if data.lstrip()[:1] in (b"{", b"[") and kept_bytes + len(data) <= _JSON_KEPT_MAX_BYTES:
                    json_members[member.name] = data
                    kept_bytes += len(data)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ImageRejected(
            [
                f"The file is not a complete image archive ({error}); the upload may be cut short,"
                f" or {_HOW_TO_SAVE}."
            ]
        ) from None
    return _ArchiveContents(json_members, frozenset(names), size_bytes, complete=True)


def _manifest_single_image(contents: _ArchiveContents) -> Mapping[str, object]:
    manifest_bytes = contents.json_members.get("manifest.json")
    if manifest_bytes is None:
        raise ImageRejected(
            [f"The archive has no manifest.json, so it is not a saved image; {_HOW_TO_SAVE}."]
        )
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError:
        raise ImageRejected([f"The archive's manifest.json is not valid JSON; {_HOW_TO_SAVE}."]) from None
    if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
        count = len(manifest) if isinstance(manifest, list) else 0
        raise ImageRejected(
            [f"The archive holds {count} images; it must hold exactly one: save a single image (one tag)."]
        )
    return manifest[0]


def _summary(
    config: Mapping[str, object], manifest: Mapping[str, object], *, config_bytes: bytes, size_bytes: int
) -> ImageSummary:
    container_config = config.get("config")
    settings = container_config if isinstance(container_config, dict) else {}
    return ImageSummary(
        image_id=f"sha256:{hashlib.sha256(config_bytes).hexdigest()}",
        repo_tags=_texts(manifest.get("RepoTags")),
        architecture=untrusted_text(str(config.get("architecture", ""))),
        os=untrusted_text(str(config.get("os", ""))),
        user=untrusted_text(str(settings.get("User") or "")),
        entrypoint=_texts(settings.get("Entrypoint")),
        cmd=_texts(settings.get("Cmd")),
        size_bytes=size_bytes,
    )


def _problems(summary: ImageSummary, *, max_size_bytes: int) -> list[str]:
    problems = []
    if summary.architecture != _EXPECTED_ARCHITECTURE or summary.os != _EXPECTED_OS:
        problems.append(
            f"The image is built for {summary.os or 'an unknown OS'}/"
            f"{summary.architecture or 'an unknown CPU'};"
            f" the workers run {_EXPECTED_OS}/{_EXPECTED_ARCHITECTURE}: build with"
            f" `docker build --platform {_EXPECTED_OS}/{_EXPECTED_ARCHITECTURE}`."
        )
    if image_user_is_root(summary.user):
        shown = summary.user or "not set, so root"
        problems.append(
            f"The image runs as root (USER is {shown}); add a non-root user, e.g. `USER 1000:1000`,"
            " to its Dockerfile."
        )
    if not summary.entrypoint and not summary.cmd:
        problems.append(
            "The image has neither ENTRYPOINT nor CMD, so it would not know what to run;"
            " add one to its Dockerfile."
        )
    if summary.size_bytes > max_size_bytes:
        problems.append(_too_big(summary.size_bytes, max_size_bytes=max_size_bytes))
    return problems


def _too_big(size_bytes: int, *, max_size_bytes: int) -> str:
    return (
        f"The image is over this phase's limit of {_gigabytes(max_size_bytes)} unpacked (at least"
        f" {_gigabytes(size_bytes)}); leave build tools and caches out of the final image."
    )


def _strings(value: object) -> tuple[str, ...]:
    """A JSON list of strings as a tuple; anything else (null, missing) as an empty one."""
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _texts(value: object) -> tuple[str, ...]:
    """A JSON list of strings from the participant's image as text safe to store and show."""
    return tuple(untrusted_text(item) for item in _strings(value))


def _gigabytes(size_bytes: int) -> str:
    return f"{size_bytes / 1e9:.2f} GB"
