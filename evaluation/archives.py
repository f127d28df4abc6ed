"""Safe reading of a predictions archive (.zip, .tar, .tar.gz/.tgz) and the checks of the masks inside.

Nothing here imports Django: limits come in as arguments and problems go out as plain sentences, so a
participant fixes an archive in one go. An archive is inspected from its member table before a byte is
extracted: absolute paths, ``..``, links, devices and fifos, over-long names, too many members, too many
uncompressed bytes and compression-ratio bombs are refused. A zip's table is its central directory; a
tar's members are listed one header at a time, and the listing stops at the first member that passes a
limit, so the rest of a compressed stream (a member declaring 10 GiB, say) is never decompressed.
Extraction then trusts no name (each mask is written to ``dest/<basename>``) and no header (bytes are
counted while they stream, so a member that lies about its size cannot write more than the budget); a
member whose data are damaged (a bad CRC, corrupt compressed data, an archive cut short) is a sentence.
A release archive is written out with its folders (``archive_extract_tree``), after the same inspection,
each target checked once more to lie under the destination.

Member names become text once, where they are read (``untrusted_text``): bytes that are not UTF-8 and
control characters are written ``\\xNN``, so a name can be stored, shown on a page and mailed. Extracted
files are named by that text, so every sentence about them is safe too.

``masks_check`` decodes every mask once, as the evaluation will read it (``evaluation.io``: the format
from the content, self-contained files only, the declared grid compared with the case's before a voxel
is read), so a corrupt mask is refused here rather than scored. ``archive_check`` runs extraction and the
mask checks in a child process under a time and memory budget (``evaluation.bounded``).

The case id rule is the evaluation command line's: a file's name up to the first ``_``, or its name
without ``.nii.gz``, ``.nii`` or ``.mha``.
"""

import lzma
import math
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Final, Literal

from evaluation.bounded import BudgetExceeded, CheckBudget, Progress, bounded_call
from evaluation.io import MASK_SUFFIXES, MAX_VOXELS, ImageRefused, image_header_read, read_mask, size_text
from evaluation.scoring import case_id_from_path
from evaluation.untrusted_text import untrusted_text

__all__ = [
    "ArchiveContents",
    "ArchiveLimits",
    "ArchiveMember",
    "ArchiveRejected",
    "ExtractedMasks",
    "archive_check",
    "archive_extract_masks",
    "archive_extract_tree",
    "archive_inspect",
    "masks_check",
]

ArchiveFormat = Literal["zip", "tar"]

# A member smaller than this is not judged by its compression ratio: headers of tiny files compress
# oddly, and a small file cannot be a bomb.
_RATIO_FLOOR_BYTES: Final = 1024 * 1024
_CHUNK_BYTES: Final = 1024 * 1024
# Folders and files that archivers add on their own; they are neither masks nor problems.
_IGNORED_NAMES: Final = ("__MACOSX/", ".DS_Store", "Thumbs.db")
# File systems take names of up to 255 bytes; an escaped byte takes 4 characters, so stay well below.
_MAX_NAME_CHARACTERS: Final = 200
_MAX_PATH_CHARACTERS: Final = 1000
_MAX_NAME_BYTES: Final = 255
# A check's memory: the interpreter's working set, plus per voxel of the largest case the mask as stored
# (up to 8 bytes, float64, when SimpleITK reads a MetaImage) and binarised (1 byte), with room to spare.
_CHECK_MEMORY_BASE_BYTES: Final = 512 * 1024**2
_CHECK_MEMORY_BYTES_PER_VOXEL: Final = 12
# What reading a member's data raises when the archive is damaged.
_DAMAGE_ERRORS: Final = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
)


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
    """A regular file of an archive as its member table describes it; ``name`` as the archive holds it."""

    name: str
    size_bytes: int
    compressed_bytes: int | None = None

    @property
    def shown(self) -> str:
        """The name as text that any page, database or mail can hold (see ``untrusted_text``)."""
        return untrusted_text(self.name)


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

    @property
    def shown(self) -> str:
        return untrusted_text(self.name)


def archive_inspect(
    path: Path, *, max_members: int, max_total_bytes: int, max_ratio: float
) -> ArchiveContents:
    """Read the member table of the archive at ``path`` and check it against the limits.

    Raises ``ArchiveRejected`` listing every problem: not an archive (or a damaged one), an absolute
    path or ``..``, a link, device or fifo, an over-long name, more than ``max_members`` files, more than
    ``max_total_bytes`` once uncompressed, or a member (over 1 MiB) or the whole archive expanding more
    than ``max_ratio`` times. A tar's listing stops at the first member that passes one of the last three
    limits, which is then the only such problem named.
    """
    limits = ArchiveLimits(max_members=max_members, max_total_bytes=max_total_bytes, max_ratio=max_ratio)
    archive_format, entries, limit_problem = _entries(path, limits=limits)
    problems: list[str] = []
    members: list[ArchiveMember] = []
    for entry in entries:
        problems.extend(_entry_problems(entry, max_ratio=max_ratio))
        if entry.kind == "file":
            members.append(ArchiveMember(entry.name, entry.size_bytes, entry.compressed_bytes))
    total_bytes = sum(member.size_bytes for member in members)
    if limit_problem is not None:
        problems.append(limit_problem)
    else:
        problems.extend(_totals_problems(len(members), total_bytes, path=path, limits=limits))
    if problems:
        raise ArchiveRejected(problems)
    return ArchiveContents(archive_format, tuple(members), total_bytes)


def archive_extract_masks(
    path: Path, dest: Path, *, limits: ArchiveLimits, progress: Progress | None = None
) -> ExtractedMasks:
    """Inspect the archive, then write each mask file to ``dest/<basename>`` and name it by case id.

    Folders inside the archive are ignored (masks may sit in one). Files that are not .nii.gz, .nii or
    .mha and two files of one case are reported in ``problems`` and not extracted. ``progress`` is told
    each member's name as it is extracted. Raises ``ArchiveRejected`` if inspection fails, a member turns
    out larger than its header said, or a member's data are damaged.
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
        basename = PurePosixPath(member.shown).name
        if _is_ignored(member.shown):
            continue
        if not basename.lower().endswith(MASK_SUFFIXES):
            problems.append(f"{member.shown} is not a mask file: use .nii.gz, .nii or .mha.")
            continue
        case_id = case_id_from_path(Path(basename))
        if case_id in chosen:
            problems.append(f"Case {case_id} has two files: {chosen[case_id].shown} and {member.shown}.")
            continue
        chosen[case_id] = member
    budget = _Budget(remaining=limits.max_total_bytes)
    by_name = {member.name: case_id for case_id, member in chosen.items()}
    files: dict[str, Path] = {}
    for member, source in _member_streams(path, contents.format, chosen.values()):
        if progress is not None:
            progress(member.shown)
        target = dest / PurePosixPath(member.shown).name
        with source, target.open("wb") as sink:
            budget.copy(source, sink, declared_bytes=member.size_bytes, name=member.shown)
        files[by_name[member.name]] = target
    return ExtractedMasks(files=files, problems=problems)


def archive_extract_tree(
    path: Path, dest: Path, *, limits: ArchiveLimits, progress: Callable[[int, int], None] | None = None
) -> ArchiveContents:
    """Inspect the archive, then write every file of it under ``dest`` at its path inside the archive (a
    release's folders kept); return what inspection found.

    Inspection is ``archive_inspect``'s, so an absolute path, ``..``, a link, a device and a bomb are
    refused before a byte is written; each target is checked to lie under ``dest`` again all the same.
    Files archivers add on their own (``__MACOSX/``, ``.DS_Store``) are left out. ``progress`` is told the
    files written so far and the files to write, after each file. Raises ``ArchiveRejected`` if inspection
    fails, a member turns out larger than its header said, or a member's data are damaged.
    """
    contents = archive_inspect(
        path,
        max_members=limits.max_members,
        max_total_bytes=limits.max_total_bytes,
        max_ratio=limits.max_ratio,
    )
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    wanted = [member for member in contents.members if not _is_ignored(member.shown)]
    budget = _Budget(remaining=limits.max_total_bytes)
    for written, (member, source) in enumerate(_member_streams(path, contents.format, wanted), start=1):
        target = (root / PurePosixPath(member.shown)).resolve()
        if not target.is_relative_to(root) or target == root:
            raise ArchiveRejected([f"{member.shown} would be written outside the archive's folder."])
        target.parent.mkdir(parents=True, exist_ok=True)
        with source, target.open("wb") as sink:
            budget.copy(source, sink, declared_bytes=member.size_bytes, name=member.shown)
        if progress is not None:
            progress(written, len(wanted))
    return contents


def masks_check(
    *,
    masks: Mapping[str, Path],
    expected_shapes: Mapping[str, Sequence[int] | None],
    progress: Progress | None = None,
) -> list[str]:
    """Compare the masks (by case id) with the cases of a phase and their reference image sizes.

    Returns a sentence per problem: a case id the phase does not have, a case without a mask, a file
    that is not a self-contained readable image (see ``evaluation.io.image_header_read``), a mask whose
    size differs from the case's reference image (not compared where the expected size is None; found
    from the header, before a voxel is read), and a mask whose voxels cannot be decoded (damaged, cut
    short). Each mask is decoded once, as the evaluation reads it; ``progress`` is told each file's name.
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
        if progress is not None:
            progress(path.name)
        problem = _mask_problem(path, case_id=case_id, expected=expected_shapes[case_id])
        if problem is not None:
            problems.append(problem)
    return problems


def archive_check(
    path: Path,
    dest: Path,
    *,
    limits: ArchiveLimits,
    expected_shapes: Mapping[str, Sequence[int] | None],
    seconds: float,
) -> list[str]:
    """Every problem of a predictions archive, one sentence each: ``archive_extract_masks`` into ``dest``,
    then ``masks_check``, run in a child process that may take ``seconds`` and as much memory as masks of
    the largest expected case need.

    A check over its time or memory budget is one more sentence, naming the file it was reading. Raises
    ``evaluation.bounded.CheckCrashed`` when the check fails for a reason that is not the archive's.
    """

    def work(progress: Progress) -> list[str]:
        _single_threaded()
        try:
            extracted = archive_extract_masks(path, dest, limits=limits, progress=progress)
        except ArchiveRejected as rejection:
            return rejection.problems
        return extracted.problems + masks_check(
            masks=extracted.files, expected_shapes=expected_shapes, progress=progress
        )

    budget = CheckBudget(seconds=seconds, memory_bytes=_memory_budget(expected_shapes))
    try:
        return bounded_call(work, budget=budget)
    except BudgetExceeded as breach:
        return [str(breach)]


def _mask_problem(path: Path, *, case_id: str, expected: Sequence[int] | None) -> str | None:
    try:
        header = image_header_read(path, max_voxels=None if expected is not None else MAX_VOXELS)
        if expected is not None and header.size != tuple(expected):
            return (
                f"{path.name} is {size_text(header.size)} voxels but case {case_id} is {size_text(expected)}."
            )
        read_mask(path, max_voxels=header.voxels)
    except ImageRefused as refusal:
        return str(refusal)
    return None


def _memory_budget(expected_shapes: Mapping[str, Sequence[int] | None]) -> int:
    sizes = [shape for shape in expected_shapes.values() if shape is not None]
    largest = (
        max((math.prod(shape) for shape in sizes), default=0) if len(sizes) == len(expected_shapes) else 0
    )
    return _CHECK_MEMORY_BASE_BYTES + _CHECK_MEMORY_BYTES_PER_VOXEL * (largest or MAX_VOXELS)


def _single_threaded() -> None:
    """Keep ITK to one thread in the check's child: its thread pool would reserve memory per core."""
    import SimpleITK as sitk  # only the check's child needs it, and it is slow to import

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # type: ignore[no-untyped-call]  # untyped library


def _entries(path: Path, *, limits: ArchiveLimits) -> tuple[ArchiveFormat, list[_Entry], str | None]:
    """The archive's members and, for a tar whose listing stopped at a limit, the sentence saying which."""
    if zipfile.is_zipfile(path):
        return "zip", _zip_entries(path), None
    entries: list[_Entry] = []
    try:
        limit_problem = _tar_entries(path, limits=limits, entries=entries)
    except (tarfile.TarError, zlib.error, lzma.LZMAError, EOFError, OSError) as error:
        if not entries:
            raise ArchiveRejected(
                ["The file is not a readable .zip, .tar or .tar.gz archive of masks."]
            ) from error
        raise ArchiveRejected(
            [f"The archive is damaged or cut short after {entries[-1].shown}; make the archive again."]
        ) from error
    return "tar", entries, limit_problem


def _zip_entries(path: Path) -> list[_Entry]:
    try:
        with zipfile.ZipFile(path) as archive:
            return [_zip_entry(info) for info in archive.infolist()]
    except UnicodeDecodeError as error:
        name = bytes(error.object).decode("utf-8", errors="backslashreplace")
        raise ArchiveRejected(
            [
                f"The zip marks the name {untrusted_text(name)} as UTF-8, which it is not; rename the file "
                "and make the archive again."
            ]
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ArchiveRejected(
            ["The file is not a readable .zip, .tar or .tar.gz archive of masks."]
        ) from error


def _tar_entries(path: Path, *, limits: ArchiveLimits, entries: list[_Entry]) -> str | None:
    """List the tar's members into ``entries``, one header at a time (skipping a member's data means
    decompressing it), and stop at the first member that passes a limit: return its sentence, or None."""
    archive_bytes = max(path.stat().st_size, 1)
    files = total_bytes = 0
    with tarfile.open(path, mode="r:*") as archive:
        for info in archive:
            entry = _tar_entry(info)
            entries.append(entry)
            if entry.kind != "file":
                continue
            files += 1
            total_bytes += entry.size_bytes
            problem = _listing_limit_problem(entry, files, total_bytes, archive_bytes, limits=limits)
            if problem is not None:
                return problem
    return None


def _listing_limit_problem(
    entry: _Entry, files: int, total_bytes: int, archive_bytes: int, *, limits: ArchiveLimits
) -> str | None:
    if files > limits.max_members:
        return (
            f"The archive holds more than {limits.max_members} files; at most {limits.max_members} are "
            "allowed."
        )
    if entry.size_bytes > limits.max_total_bytes:
        return (
            f"{entry.shown} alone expands to {_megabytes(entry.size_bytes)}; the archive may expand to at "
            f"most {_megabytes(limits.max_total_bytes)}."
        )
    if total_bytes > limits.max_total_bytes:
        return (
            f"The archive expands to more than {_megabytes(total_bytes)}; at most "
            f"{_megabytes(limits.max_total_bytes)} are allowed."
        )
    if total_bytes >= _RATIO_FLOOR_BYTES and total_bytes / archive_bytes > limits.max_ratio:
        return (
            f"The archive expands at least {total_bytes / archive_bytes:.0f} times its size; at most "
            f"{limits.max_ratio:g} times is allowed."
        )
    return None


def _totals_problems(files: int, total_bytes: int, *, path: Path, limits: ArchiveLimits) -> list[str]:
    problems = []
    if files > limits.max_members:
        problems.append(f"The archive holds {files} files; at most {limits.max_members} are allowed.")
    if total_bytes > limits.max_total_bytes:
        problems.append(
            f"The archive expands to {_megabytes(total_bytes)}; at most {_megabytes(limits.max_total_bytes)} "
            "are allowed."
        )
    archive_bytes = max(path.stat().st_size, 1)
    if total_bytes >= _RATIO_FLOOR_BYTES and total_bytes / archive_bytes > limits.max_ratio:
        problems.append(
            f"The archive expands {total_bytes / archive_bytes:.0f} times its size; at most "
            f"{limits.max_ratio:g} times is allowed."
        )
    return problems


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
    shown = entry.shown
    name = shown.replace("\\", "/")
    if _name_too_long(shown):
        problems.append(
            f"{_shortened(shown)} has a name of {len(PurePosixPath(name).name)} characters in a path of "
            f"{len(shown)}; use names of at most {_MAX_NAME_CHARACTERS} characters."
        )
        shown = _shortened(shown)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        problems.append(f"{shown} has an absolute path; use paths inside the archive.")
    if ".." in PurePosixPath(name).parts:
        problems.append(f"{shown} points outside the archive with '..'.")
    if entry.kind == "link":
        problems.append(f"{shown} is a link; the archive may hold only files and folders.")
    elif entry.kind == "special":
        problems.append(f"{shown} is a device or fifo; the archive may hold only files and folders.")
    compressed = entry.compressed_bytes
    if entry.size_bytes >= _RATIO_FLOOR_BYTES and compressed is not None:
        ratio = entry.size_bytes / max(compressed, 1)
        if ratio > max_ratio:
            problems.append(
                f"{shown} expands {ratio:.0f} times its compressed size; at most {max_ratio:g} times "
                "is allowed."
            )
    return problems


def _name_too_long(shown: str) -> bool:
    """Whether a name is longer than extraction can write: a file system takes names of 255 bytes."""
    basename = PurePosixPath(shown.replace("\\", "/")).name
    return (
        len(shown) > _MAX_PATH_CHARACTERS
        or len(basename) > _MAX_NAME_CHARACTERS
        or len(basename.encode("utf-8")) > _MAX_NAME_BYTES
    )


def _shortened(text: str) -> str:
    """A long name as its start and end, so a sentence about it stays readable."""
    return text if len(text) <= 80 else f"{text[:50]}…{text[-25:]}"


def _is_ignored(name: str) -> bool:
    basename = PurePosixPath(name).name
    return name.startswith(_IGNORED_NAMES[0]) or basename in _IGNORED_NAMES or basename.startswith("._")


def _damage(error: BaseException) -> str:
    """Why a member's data could not be read, as a clause."""
    if isinstance(error, zipfile.BadZipFile) and "CRC" in str(error):
        return "its data fail their CRC check"
    if isinstance(error, EOFError) or "unexpected end" in str(error):
        return "the archive is cut short"
    if isinstance(error, NotImplementedError):
        return "it is compressed with a method this portal does not read; use deflate"
    if isinstance(error, RuntimeError) and "encrypted" in str(error):
        return "it is encrypted; send it without a password"
    return "its compressed data are damaged"


def _damaged(name: str, error: BaseException) -> ArchiveRejected:
    return ArchiveRejected(
        [f"{name} could not be read from the archive: {_damage(error)}; make the archive again."]
    )


@dataclass
class _Budget:
    """Bytes left to write; copying stops as soon as a member passes its declared size or the budget."""

    remaining: int

    def copy(self, source: IO[bytes], sink: IO[bytes], *, declared_bytes: int, name: str) -> None:
        written = 0
        while True:
            try:
                chunk = source.read(_CHUNK_BYTES)
            except _DAMAGE_ERRORS as error:
                raise _damaged(name, error) from error
            if not chunk:
                return
            written += len(chunk)
            self.remaining -= len(chunk)
            if written > declared_bytes or self.remaining < 0:
                raise ArchiveRejected([f"{name} holds more bytes than the archive declares for it."])
            sink.write(chunk)


def _member_streams(
    path: Path, archive_format: ArchiveFormat, members: Iterable[ArchiveMember]
) -> Iterator[tuple[ArchiveMember, IO[bytes]]]:
    """Each of ``members`` opened for reading, in the archive's order (a tar is read once, front to back);
    of two members with one name, the first, as inspection chose it."""
    wanted = {member.name: member for member in members}
    if archive_format == "zip":
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                member = wanted.pop(info.filename, None)
                if member is None:
                    continue
                try:
                    opened: IO[bytes] = archive.open(info)
                except _DAMAGE_ERRORS as error:
                    raise _damaged(member.shown, error) from error
                yield member, opened
        return
    with tarfile.open(path, mode="r:*") as archive:
        infos = iter(archive)
        while wanted:
            try:
                tar_info = next(infos, None)
            except _DAMAGE_ERRORS as error:
                raise ArchiveRejected(
                    [f"The archive could not be read to its end: {_damage(error)}; make the archive again."]
                ) from error
            if tar_info is None:
                return
            member = wanted.pop(tar_info.name, None)
            if member is None:
                continue
            stream = archive.extractfile(tar_info)
            if stream is None:
                raise ArchiveRejected([f"{member.shown} is not a regular file."])
            yield member, stream


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:,.1f} MB"
