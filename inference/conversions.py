"""A worker's cache of converted input images, keyed by the source's sha256, with a size cap.

A hidden case is staged for every submission of a phase: converting its .nii.gz files to .mha each time
costs seconds per job at full size. ``ConversionCache.stage`` converts a source once per worker and then
hard-links the converted file into each job's input folder (copies it across file systems). The key is
the sha256 of the source's content (the portal passes the digest it stored with the image; without one
the file is hashed), so a re-imported image with other voxels is converted again and the same content
under another name or path is not.

Several worker processes may share the folder: a conversion is written under a temporary name and
renamed into place (atomic), so a reader sees a whole file or none; two processes converting the same
source at once both convert and the last rename wins with identical content. Each use touches the file's
modification time, and when the folder holds more than ``max_bytes`` the least recently used files are
removed first (a job's staged link keeps its own copy alive until the job ends).
"""

import contextlib
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["ConversionCache", "file_sha256"]

_PARTIAL_MARK: Final = ".partial-"
# A temporary file this old was left by a worker that died while converting.
_PARTIAL_MAX_AGE_S: Final = 24 * 3600
_READ_CHUNK_BYTES: Final = 1 << 20

Converter = Callable[[Path, Path], None]


def file_sha256(path: Path) -> str:
    """The hex sha256 of the file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_READ_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ConversionCache:
    """Converted files under ``folder`` (created owner-only: hidden cases are the worker's alone), at most
    ``max_bytes`` in all after each conversion."""

    folder: Path
    max_bytes: int

    def stage(
        self, source: Path, target: Path, *, sha256: str | None, image_format: str, convert: Converter
    ) -> bool:
        """Put ``source`` converted by ``convert(source, destination)`` at ``target``; ``sha256`` is the
        source's digest (hashed from the file when None). Returns whether it converted (a miss)."""
        key = sha256 or file_sha256(source)
        cached = self.folder / f"{key}.{image_format}"
        if _link_or_copy(cached, target):
            _touch(cached)
            return False
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.folder / f"{_PARTIAL_MARK}{uuid.uuid4().hex}.{image_format}"
        try:
            convert(source, partial)
            partial.replace(cached)  # atomic: another worker sees the whole file or none
        finally:
            partial.unlink(missing_ok=True)
        if not _link_or_copy(cached, target):  # evicted at once by another worker: convert into place
            convert(source, target)
        self.evict()
        return True

    def evict(self) -> int:
        """Remove the least recently used files until the folder holds at most ``max_bytes``; return how
        many bytes were freed. Temporary files of a worker that died converting go too."""
        entries = []
        now = time.time()
        try:
            listing = list(os.scandir(self.folder))
        except FileNotFoundError:
            return 0
        for entry in listing:
            try:
                status = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed by another worker meanwhile
            if entry.name.startswith(_PARTIAL_MARK):
                if now - status.st_mtime > _PARTIAL_MAX_AGE_S:
                    Path(entry.path).unlink(missing_ok=True)
                continue
            entries.append((status.st_mtime_ns, status.st_size, Path(entry.path)))
        total = sum(size for _, size, _ in entries)
        freed = 0
        for _, size, path in sorted(entries):
            if total - freed <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            freed += size
        return freed


def _link_or_copy(cached: Path, target: Path) -> bool:
    """Hard-link ``cached`` at ``target`` (copy it across file systems); False when it is not there."""
    try:
        os.link(cached, target)
    except FileNotFoundError:
        return False
    except OSError:
        try:
            shutil.copyfile(cached, target)
        except FileNotFoundError:
            return False
    return True


def _touch(path: Path) -> None:
    """Mark ``path`` as just used (its modification time is the cache's clock, whatever ``noatime``)."""
    with contextlib.suppress(FileNotFoundError):  # evicted meanwhile; the job holds its own link
        os.utime(path)
