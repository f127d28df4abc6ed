"""The files of a challenge's release a user may download, under the release's own names, and one streamed
tar of them with a manifest of their sha256 sums.

Which files: every image of the cases the user sees, and, of the cases whose ground truth the user may see
(an organizer's, or training cases: ``selectors.case_ground_truth_visible``), the newest reference mask and
the follow-up outcome tables; the admission tables of every case seen. Names: the path each file had in
the release (``Image.release_path``, ``GroundTruth.release_path``), else the portal's own name under the
case's folder; clinical tables are written as the release's CSV (one header row, one row of values) from
what the import read. Masks are the stored ones: binarised (``> 0``) as uint8, as they are scored.

The archive is a tar (POSIX pax headers) made as it is sent: a generator yields each member's header and
its file's bytes in chunks of ``CHUNK_BYTES``, so neither the web process's memory nor its disk holds the
archive. ``MANIFEST.sha256`` comes first, in ``sha256sum`` format, read from the stored sums, so a client can
check every file as it arrives. The total length is known before the first byte (``archive_size``).
"""

import csv
import hashlib
import io
import tarfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from django.db.models import QuerySet
from django.db.models.fields.files import FieldFile

from portal.accounts.models import User
from portal.challenges.models import Challenge, Split
from portal.datasets.models import Case
from portal.datasets.selectors import (
    case_ground_truth_visible,
    case_list_with_files,
    cases_visible_to,
    cases_with_outcome_visibility,
)
from releases import isles24

MANIFEST_NAME = "MANIFEST.sha256"
CHUNK_BYTES = 1 << 20
BLOCK_BYTES = tarfile.BLOCKSIZE
END_OF_ARCHIVE = b"\0" * (2 * BLOCK_BYTES)

EntryKind = Literal["image", "mask", "table"]


@dataclass(frozen=True)
class ReleaseEntry:
    """One file of the release as the user downloads it: its path under the dataset's folder, sum and size.

    ``source`` is the stored file, or the bytes of a clinical table written from the case's row;
    ``stored_id`` is the id of the ``Image`` or ``GroundTruth`` whose file it is (None for a table), by
    which the file alone downloads.
    """

    dataset: str
    case: str
    kind: EntryKind
    path: str
    sha256: str
    size_bytes: int
    source: FieldFile | bytes
    stored_id: int | None = None

    @property
    def archive_path(self) -> str:
        """Where the archive and ``isles download`` put it: under the dataset's folder."""
        return f"{self.dataset}/{self.path}"


def _table_path(case: str, table: str) -> str:
    slot = next((slot for slot in isles24.LAYOUT if slot.name == table), None)
    if slot is None:
        return f"phenotype/{case}/{case}_{table}.csv"
    return slot.paths[0].format(case=case).removesuffix(".xlsx").removesuffix(".csv") + ".csv"


def clinical_table_csv(row: dict[str, object]) -> bytes:
    """A one-row clinical table as the release's CSV: a header row, then the values (empty for none)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(row.keys())
    writer.writerow("" if value is None else value for value in row.values())
    return text.getvalue().encode()


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _table_entries(case: Case, tables: dict[str, dict[str, object]]) -> Iterator[ReleaseEntry]:
    for table, row in tables.items():
        content = clinical_table_csv(row)
        yield ReleaseEntry(
            dataset=case.dataset.slug,
            case=case.name,
            kind="table",
            path=_table_path(case.name, table),
            sha256=_sha256(content),
            size_bytes=len(content),
            source=content,
        )


def _case_entries(case: Case) -> Iterator[ReleaseEntry]:
    dataset = case.dataset.slug
    for image in sorted(case.images.all(), key=lambda image: image.interface):
        yield ReleaseEntry(
            dataset=dataset,
            case=case.name,
            kind="image",
            path=image.release_path or f"{case.name}/{case.name}_{image.interface}.nii.gz",
            sha256=image.sha256,
            size_bytes=image.size_bytes,
            source=image.file,
            stored_id=image.pk,
        )
    ground_truth = case_ground_truth_visible(case=case)
    if ground_truth is not None:
        yield ReleaseEntry(
            dataset=dataset,
            case=case.name,
            kind="mask",
            path=ground_truth.release_path or f"{case.name}/{case.name}_lesion-msk.nii.gz",
            sha256=ground_truth.sha256,
            size_bytes=ground_truth.file.size,
            source=ground_truth.file,
            stored_id=ground_truth.pk,
        )
    yield from _table_entries(case, case.admission_data)
    if getattr(case, "outcome_visible", False):
        yield from _table_entries(case, case.outcome_data)


def release_cases_visible(
    *, user: User, challenge: Challenge, split: Split | None, case_names: Sequence[str] | None
) -> QuerySet[Case]:
    """The challenge's cases the user sees, of one split or all, all or those named."""
    cases = cases_visible_to(user=user).filter(dataset__challenge=challenge).select_related("dataset")
    if split is not None:
        cases = cases.filter(split=split)
    if case_names is not None:
        cases = cases.filter(name__in=case_names)
    return case_list_with_files(cases=cases_with_outcome_visibility(user=user, cases=cases))


def release_entry_list(*, cases: Iterable[Case]) -> list[ReleaseEntry]:
    """Every file of these cases the user may download (``cases`` from ``release_cases_visible``), in the
    order of the cases, each case's images, mask and tables."""
    return [entry for case in cases for entry in _case_entries(case)]


def manifest_text(entries: Sequence[ReleaseEntry]) -> str:
    """The manifest in ``sha256sum`` format (``<sum>  <path>``), paths as in the archive."""
    return "".join(f"{entry.sha256}  {entry.archive_path}\n" for entry in entries)


def _header(path: str, size_bytes: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(path)
    info.size = size_bytes
    info.mode = 0o644
    info.mtime = mtime
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def _padding(size_bytes: int) -> bytes:
    return b"\0" * (-size_bytes % BLOCK_BYTES)


@dataclass(frozen=True)
class ReleaseArchive:
    """A tar of release entries, ready to stream: its members' headers made, its length known."""

    manifest: bytes
    members: tuple[tuple[bytes, ReleaseEntry | None], ...]
    size_bytes: int

    def stream(self) -> Iterator[bytes]:
        """The archive's bytes, a header or a chunk of a file at a time."""
        for header, entry in self.members:
            yield header
            if entry is None:
                yield self.manifest + _padding(len(self.manifest))
                continue
            yield from _entry_chunks(entry)
            yield _padding(entry.size_bytes)
        yield END_OF_ARCHIVE


def _entry_chunks(entry: ReleaseEntry) -> Iterator[bytes]:
    """The entry's bytes; a stored file that is not the size recorded ends the stream with an error (the
    archive is then short, and the client's checks fail), since a tar cannot take back a header."""
    if isinstance(entry.source, bytes):
        yield entry.source
        return
    sent = 0
    with entry.source.storage.open(entry.source.name, "rb") as handle:
        while sent < entry.size_bytes:
            chunk = handle.read(min(CHUNK_BYTES, entry.size_bytes - sent))
            if not chunk:
                break
            sent += len(chunk)
            yield chunk
    if sent != entry.size_bytes:
        raise OSError(
            f"{entry.archive_path} is {sent} bytes in storage, not the {entry.size_bytes} recorded."
        )


def release_archive(*, entries: Sequence[ReleaseEntry]) -> ReleaseArchive:
    """The archive of ``entries``: ``MANIFEST.sha256`` first, then each file under its ``archive_path``."""
    mtime = int(time.time())
    manifest = manifest_text(entries).encode()
    members: list[tuple[bytes, ReleaseEntry | None]] = [(_header(MANIFEST_NAME, len(manifest), mtime), None)]
    members += [(_header(entry.archive_path, entry.size_bytes, mtime), entry) for entry in entries]
    size = sum(len(header) for header, _ in members) + len(END_OF_ARCHIVE)
    size += len(manifest) + len(_padding(len(manifest)))
    size += sum(entry.size_bytes + len(_padding(entry.size_bytes)) for entry in entries)
    return ReleaseArchive(manifest=manifest, members=tuple(members), size_bytes=size)
