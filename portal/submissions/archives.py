"""Safe reading of a predictions archive (.zip, .tar, .tar.gz/.tgz) and the checks of the masks inside.

Nothing here imports Django: limits come in as arguments and problems go out as plain sentences, every
problem at once, so a participant fixes an archive in one go. An archive is inspected from its member
table before a byte is extracted: absolute paths, ``..``, links, devices and fifos, too many members,
too many uncompressed bytes and compression-ratio bombs are refused. Extraction then trusts no name (each
mask is written to ``dest/<basename>``) and no header (bytes are counted while they stream, so a member
that lies about its size cannot write more than the budget).

The case id rule is the evaluation command line's: a file's name up to the first ``_``, or its name
without ``.nii.gz``, ``.nii`` or ``.mha``.
"""

import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Literal

import SimpleITK as sitk

from evaluation.io import MASK_SUFFIXES, size_text
from evaluation.scoring import case_id_from_path

__all__ = [
    "ArchiveContents",
    "ArchiveLimits",
    "ArchiveMember",
    "ArchiveRejected",
    "ExtractedMasks",
    "archive_extract_masks",
    "archive_inspect",
    "masks_check",
]

ArchiveFormat = Literal["zip", "tar"]

# A member smaller than this is not judged by its compression ratio: headers of tiny files compress
# oddly, and a small file cannot be a bomb.
_RATIO_FLOOR_BYTES = 1024 * 1024
_CHUNK_BYTES = 1024 * 1024
# Folders and files that archivers add on their own; they are neither masks nor problems.
_IGNORED_NAMES = ("__MACOSX/", ".DS_Store", "Thumbs.db")


class ArchiveRejected(Exception):
    """The archive cannot be used; ``problems`` lists every reason, each a sentence a participant acts on."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


@dataclass(frozen=True)
class ArchiveLimits:
    """How much an archive may hold: members, uncompressed bytes, and the uncompressed/compressed ratio."""

    max_members: int
    max_total_bytes: int
    max_ratio: float


@dataclass(frozen=True)
class ArchiveMember:
    """A regular file of an archive as its member table describes it."""

    name: str
    size_bytes: int
    compressed_bytes: int | None = None


@dataclass(frozen=True)
class ArchiveContents:
    """The regular files of an archive that passed inspection (folders are left out)."""

    format: ArchiveFormat
    members: tuple[ArchiveMember, ...]
    total_bytes: int


@dataclass(frozen=True)
class ExtractedMasks:
    """Mask files written to a folder, by case id, and the problems found with the archive's names."""

    files: Mapping[str, Path]
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Entry:
    """One member of either archive format, as far as the checks need to know it."""

    name: str
    kind: Literal["file", "folder", "link", "special"]
    size_bytes: int
    compressed_bytes: int | None


def archive_inspect(
    path: Path, *, max_members: int, max_total_bytes: int, max_ratio: float
) -> ArchiveContents:
    """Read the member table of the archive at ``path`` and check it against the limits.

    Raises ``ArchiveRejected`` listing every problem: not an archive, an absolute path or ``..``, a link,
    device or fifo, more than ``max_members`` files, more than ``max_total_bytes`` once uncompressed, or
    a member (over 1 MiB) or the whole archive expanding more than ``max_ratio`` times.
    """
    archive_format, entries = _entries(path)
    problems: list[str] = []
    members: list[ArchiveMember] = []
    for entry in entries:
        problems.extend(_entry_problems(entry, max_ratio=max_ratio))
        if entry.kind == "file":
            members.append(ArchiveMember(entry.name, entry.size_bytes, entry.compressed_bytes))
    total_bytes = sum(member.size_bytes for member in members)
    if len(members) > max_members:
        problems.append(f"The archive holds {len(members)} files; at most {max_members} are allowed.")
    if total_bytes > max_total_bytes:
        problems.append(
            f"The archive expands to {_megabytes(total_bytes)}; at most {_megabytes(max_total_bytes)} "
            "are allowed."
        )
    archive_bytes = max(path.stat().st_size, 1)
    if total_bytes >= _RATIO_FLOOR_BYTES and total_bytes / archive_bytes > max_ratio:
        problems.append(
            f"The archive expands {total_bytes / archive_bytes:.0f} times its size; at most {max_ratio:g} "
            "times is allowed."
        )
    if problems:
        raise ArchiveRejected(problems)
    return ArchiveContents(archive_format, tuple(members), total_bytes)


def archive_extract_masks(path: Path, dest: Path, *, limits: ArchiveLimits) -> ExtractedMasks:
    """Inspect the archive, then write each mask file to ``dest/<basename>`` and name it by case id.

    Folders inside the archive are ignored (masks may sit in one). Files that are not .nii.gz, .nii or
    .mha and two files of one case are reported in ``problems`` and not extracted. Raises
    ``ArchiveRejected`` if inspection fails or a member turns out larger than its header said.
    """
    contents = archive_inspect(
        path,
        max_members=limits.max_members,
        max_total_bytes=limits.max_total_bytes,
        max_ratio=limits.max_ratio,
    )
    dest.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, ArchiveMember] = {}
    problems: list[str] = []
    for member in contents.members:
        basename = PurePosixPath(member.name).name
        if _is_ignored(member.name):
            continue
        if not basename.lower().endswith(MASK_SUFFIXES):
            problems.append(f"{member.name} is not a mask file: use .nii.gz, .nii or .mha.")
            continue
        case_id = case_id_from_path(Path(basename))
        if case_id in chosen:
            problems.append(f"Case {case_id} has two files: {chosen[case_id].name} and {member.name}.")
            continue
        chosen[case_id] = member
    budget = _Budget(remaining=limits.max_total_bytes)
    files: dict[str, Path] = {}
    with _opened(path, contents.format) as read_member:
        for case_id, member in chosen.items():
            target = dest / PurePosixPath(member.name).name
            with read_member(member.name) as source, target.open("wb") as sink:
                budget.copy(source, sink, declared_bytes=member.size_bytes, name=member.name)
            files[case_id] = target
    return ExtractedMasks(files=files, problems=problems)


def masks_check(
    *, masks: Mapping[str, Path], expected_shapes: Mapping[str, Sequence[int] | None]
) -> list[str]:
    """Compare the masks (by case id) with the cases of a phase and their reference image sizes.

    Returns a sentence per problem: a case id the phase does not have, a case without a mask, a file
    that is not a readable image, and a mask whose size differs from the case's reference image (not
    compared where the expected size is None). Only the image header is read.
    """
    problems = [
        f"{path.name} names case {case_id}, which is not one of this phase's cases."
        for case_id, path in sorted(masks.items())
        if case_id not in expected_shapes
    ]
    missing = sorted(set(expected_shapes) - set(masks))
    if missing:
        problems.append(f"There is no mask for {len(missing)} case(s): {', '.join(missing)}.")
    for case_id, path in sorted(masks.items()):
        if case_id not in expected_shapes:
            continue
        size = _image_size(path)
        expected = expected_shapes[case_id]
        if size is None:
            problems.append(f"{path.name} is not a readable image.")
        elif expected is not None and size != tuple(expected):
            problems.append(
                f"{path.name} is {size_text(size)} voxels but case {case_id} is {size_text(expected)}."
            )
    return problems


def _entries(path: Path) -> tuple[ArchiveFormat, list[_Entry]]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return "zip", [_zip_entry(info) for info in archive.infolist()]
    try:
        with tarfile.open(path, mode="r:*") as archive:
            return "tar", [_tar_entry(info) for info in archive.getmembers()]
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveRejected(
            ["The file is not a readable .zip, .tar or .tar.gz archive of masks."]
        ) from error


def _zip_entry(info: zipfile.ZipInfo) -> _Entry:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        kind: Literal["file", "folder", "link", "special"] = "link"
    elif info.is_dir():
        kind = "folder"
    elif stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # zip writers often set permissions only
        kind = "special"
    else:
        kind = "file"
    return _Entry(info.filename, kind, info.file_size, info.compress_size)


def _tar_entry(info: tarfile.TarInfo) -> _Entry:
    if info.issym() or info.islnk():
        kind: Literal["file", "folder", "link", "special"] = "link"
    elif info.isdir():
        kind = "folder"
    elif info.isreg():
        kind = "file"
    else:
        kind = "special"
    return _Entry(info.name, kind, info.size, None)


def _entry_problems(entry: _Entry, *, max_ratio: float) -> list[str]:
    problems = []
    name = entry.name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        problems.append(f"{entry.name} has an absolute path; use paths inside the archive.")
    if ".." in PurePosixPath(name).parts:
        problems.append(f"{entry.name} points outside the archive with '..'.")
    if entry.kind == "link":
        problems.append(f"{entry.name} is a link; the archive may hold only files and folders.")
    elif entry.kind == "special":
        problems.append(f"{entry.name} is a device or fifo; the archive may hold only files and folders.")
    compressed = entry.compressed_bytes
    if entry.size_bytes >= _RATIO_FLOOR_BYTES and compressed is not None:
        ratio = entry.size_bytes / max(compressed, 1)
        if ratio > max_ratio:
            problems.append(
                f"{entry.name} expands {ratio:.0f} times its compressed size; at most {max_ratio:g} times "
                "is allowed."
            )
    return problems


def _is_ignored(name: str) -> bool:
    basename = PurePosixPath(name).name
    return name.startswith(_IGNORED_NAMES[0]) or basename in _IGNORED_NAMES or basename.startswith("._")


@dataclass
class _Budget:
    """Bytes left to write; copying stops as soon as a member passes its declared size or the budget."""

    remaining: int

    def copy(self, source: IO[bytes], sink: IO[bytes], *, declared_bytes: int, name: str) -> None:
        written = 0
        while chunk := source.read(_CHUNK_BYTES):
            written += len(chunk)
            self.remaining -= len(chunk)
            if written > declared_bytes or self.remaining < 0:
                raise ArchiveRejected([f"{name} holds more bytes than the archive declares for it."])
            sink.write(chunk)


@contextmanager
def _opened(path: Path, archive_format: ArchiveFormat) -> Iterator[Callable[[str], IO[bytes]]]:
    """A function that opens a member of the archive by name for reading."""
    if archive_format == "zip":
        with zipfile.ZipFile(path) as archive:
            yield archive.open
        return
    with tarfile.open(path, mode="r:*") as archive:

        def read_member(name: str) -> IO[bytes]:
            stream = archive.extractfile(name)
            if stream is None:
                raise ArchiveRejected([f"{name} is not a regular file."])
            return stream

        yield read_member


def _image_size(path: Path) -> tuple[int, ...] | None:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None
    return tuple(int(n) for n in reader.GetSize())


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:,.1f} MB"
