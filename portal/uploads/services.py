"""Appending chunks to a resumable upload and joining them, through Django's storage API only.

Neither Django's storage API nor object storage can append to a file, so each chunk is stored as a part of
its own (``<file_name>.part-<start>``) and the parts are joined into ``file_name`` once the last one
arrived, the whole file hashed on the way. The row (a ``ChunkedUpload``) is the record: ``received_bytes``
says where the next chunk starts, so a client whose connection was cut asks for it and resumes there, and
``part_names`` lists the parts holding the bytes so far.

The caller locks the row (``select_for_update``) in a transaction and checks its own rules (who may send,
what the upload is for) before ``chunked_upload_append``. A chunk whose transaction rolls back leaves no
part behind (its part is deleted), and the parts of a joined upload are deleted once it commits.
"""

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.storage import Storage
from django.db import transaction

from portal.uploads.exceptions import UploadOffsetMismatch, UploadRefused
from portal.uploads.models import ChunkedUpload

CHUNK_BYTES = 8 * 1024**2
"""The chunk size clients are told to send (a chunk may be smaller, or cut short)."""
_COPY_BYTES = 1024**2


def chunked_upload_name(*, upload: ChunkedUpload, folder: str, suffix: str) -> str:
    """The storage name the whole file of ``upload`` will have: ``folder/<id><suffix>``."""
    return f"{folder}/{upload.pk}{suffix}"


def chunked_upload_append(
    *,
    upload: ChunkedUpload,
    storage: Storage,
    start: int,
    total_bytes: int,
    length: int,
    stream: IO[bytes],
    on_complete: Callable[[], None] | None = None,
) -> None:
    """Store up to ``length`` bytes read from ``stream`` as the part at byte ``start`` of the locked
    upload, and save the row; when that makes it whole, join the parts into ``upload.file_name``, record
    its sha256 and call ``on_complete`` (which may refuse, undoing this chunk).

    The chunk must start where the upload stands (``UploadOffsetMismatch`` otherwise, with the offset to
    resume from), so a chunk sent twice or out of order changes nothing; a chunk cut short keeps the bytes
    that arrived. Raises ``UploadRefused`` for a whole upload, or a chunk that does not fit in it.
    """
    if upload.sha256:
        raise UploadRefused("This upload is complete; start a new one.", code="complete")
    if total_bytes != upload.total_bytes or start + length > upload.total_bytes:
        raise UploadRefused(
            f"This upload is {upload.total_bytes} bytes; the chunk does not fit in it.", code="bad_range"
        )
    if start != upload.received_bytes:
        raise UploadOffsetMismatch(received_bytes=upload.received_bytes, start=start)
    written: list[str] = []
    try:
        received = _part_store(
            upload=upload, storage=storage, start=start, length=length, stream=stream, written=written
        )
        upload.received_bytes = start + received
        upload.save(update_fields=["received_bytes", "part_names"])
        if upload.is_complete:
            upload.sha256 = _parts_join(upload=upload, storage=storage, written=written)
            upload.save(update_fields=["sha256"])
            if on_complete is not None:
                on_complete()
            transaction.on_commit(partial(_files_delete, storage=storage, names=list(upload.part_names)))
    except BaseException:
        _files_delete(storage=storage, names=written)
        raise


def chunked_upload_files_delete(*, upload: ChunkedUpload, storage: Storage, whole: bool) -> None:
    """Delete the upload's stored parts, and its whole file too when ``whole``."""
    _files_delete(storage=storage, names=[*upload.part_names, *([upload.file_name] if whole else [])])


def chunked_upload_local_path(*, upload: ChunkedUpload, storage: Storage, folder: Path) -> Path:
    """A path on this machine holding the whole file: where the storage keeps it when it is on the file
    system, else a copy written into ``folder``."""
    try:
        return Path(storage.path(upload.file_name))
    except NotImplementedError:
        copy = folder / Path(upload.file_name).name
        with storage.open(upload.file_name, "rb") as source, copy.open("wb") as target:
            shutil.copyfileobj(source, target, _COPY_BYTES)
        return copy


def _part_store(
    *, upload: ChunkedUpload, storage: Storage, start: int, length: int, stream: IO[bytes], written: list[str]
) -> int:
    """Store what arrives of the chunk as the upload's next part (none for an empty chunk) and return how
    many bytes arrived.

    The chunk is spooled first (in memory up to one chunk, beyond that on disk): a request's body cannot
    be rewound, and a storage may need the size or read it twice. A part of that name left by a chunk
    whose transaction rolled back is replaced.
    """
    with tempfile.SpooledTemporaryFile(max_size=CHUNK_BYTES) as spool:
        received = 0
        while received < length:
            piece = stream.read(min(_COPY_BYTES, length - received))
            if not piece:
                break
            spool.write(piece)
            received += len(piece)
        if received == 0:
            return 0
        spool.seek(0)
        name = f"{upload.file_name}.part-{start:015d}"
        if storage.exists(name):
            storage.delete(name)
        stored = storage.save(name, File(spool, name=name))
    written.append(stored)
    upload.part_names = [*upload.part_names, stored]
    return received


class _JoinedParts:
    """The upload's parts read one after the other as one file, hashed as they are read."""

    def __init__(self, *, storage: Storage, names: Sequence[str]) -> None:
        self.storage = storage
        self.names = list(names)
        self.digest = hashlib.sha256()
        self.current: IO[bytes] | None = None

    def read(self, size: int = -1) -> bytes:
        while True:
            if self.current is None:
                if not self.names:
                    return b""
                self.current = self.storage.open(self.names.pop(0), "rb")
            piece = self.current.read(_COPY_BYTES if size is None or size < 0 else size)
            if piece:
                self.digest.update(piece)
                return piece
            self.current.close()
            self.current = None

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return False  # open until the last part is read; an object store's upload asks before reading


def _parts_join(*, upload: ChunkedUpload, storage: Storage, written: list[str]) -> str:
    """Write the parts, in order, into the upload's ``file_name``; return the whole file's sha256."""
    if storage.exists(upload.file_name):
        storage.delete(upload.file_name)  # left by a completing chunk whose transaction rolled back
    joined = _JoinedParts(storage=storage, names=upload.part_names)
    stored = storage.save(upload.file_name, File(joined, name=upload.file_name))
    written.append(stored)
    if stored != upload.file_name:
        raise RuntimeError(f"The storage saved {upload.file_name} as {stored}.")
    return joined.digest.hexdigest()


def _files_delete(*, storage: Storage, names: Sequence[str]) -> None:
    for name in names:
        storage.delete(name)
