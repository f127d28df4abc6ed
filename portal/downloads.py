"""Stored files sent over HTTP: the whole file as an attachment, or the single byte range a request asks
for (``Range: bytes=N-`` or ``bytes=N-M``, RFC 9110 14.2) with 206, read from storage as it is sent, so a
cut download goes on where it stopped; private files in an object store are not sent by the portal but
handed out by the store, the portal redirecting to a URL it presigned for a few minutes; and the view
behind the portal's signed links to private files (``portal.storage.private_file_signed_url``), which
needs no login but a valid, unexpired token.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from portal.storage import (
    SignedLinkRefused,
    private_file_signed_read,
    private_file_signed_url,
    private_storage,
    private_storage_signs_urls,
)

# The one form of Range a download answers: a single range of bytes, open-ended or not (RFC 9110 14.2).
_BYTE_RANGE = re.compile(r"bytes=(\d{1,19})-(\d{0,19})")
_RANGE_CHUNK_BYTES = 1 << 20
PRESIGNED_DOWNLOAD_MAX_AGE_S = 300
"""How long the object store's URL of a private download, handed out after the permission check, holds."""


@dataclass(frozen=True)
class ByteRange:
    """The bytes of a file a request asks for: ``first`` to ``last``, both included, of ``size``."""

    first: int
    last: int
    size: int

    @property
    def satisfiable(self) -> bool:
        return self.first < self.size


def byte_range(request: HttpRequest, *, etag: str | None, size: int) -> ByteRange | None:
    """The single byte range the request asks for, or None for the whole file: no range this reads
    (several, a suffix, another unit: RFC 9110 lets a server ignore them), or an ``If-Range`` that names
    another version of the file than ``etag`` (any, when the file has none), whose bytes would not
    continue the client's."""
    match = _BYTE_RANGE.fullmatch(request.headers.get("Range", "").strip())
    if match is None:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None
    first, last = int(match[1]), int(match[2]) if match[2] else size - 1
    if last < first and match[2]:
        return None  # "bytes=9-3" is not a range
    return ByteRange(first=first, last=min(last, size - 1), size=size)


def stored_file_download(
    request: HttpRequest,
    *,
    storage: Storage,
    name: str,
    filename: str,
    content_type: str | None = None,
    etag: str | None = None,
) -> HttpResponse:
    """The stored file ``name`` as an attachment named ``filename``: the single range the request asks
    for with 206 (416 when it starts past the end), else the whole file with its length. The content
    type is ``content_type``, or guessed from ``filename``."""
    span = byte_range(request, etag=etag, size=storage.size(name)) if "Range" in request.headers else None
    if span is None:
        response: HttpResponse = FileResponse(storage.open(name, "rb"), as_attachment=True, filename=filename)
        if content_type is not None:
            response["Content-Type"] = content_type
    else:
        response = _range_response(
            storage=storage, name=name, span=span, filename=filename, content_type=content_type
        )
    if response.status_code != 416:
        response["Accept-Ranges"] = "bytes"
    return response


def private_file_response(
    request: HttpRequest,
    *,
    file: FieldFile,
    filename: str,
    content_type: str | None = None,
    etag: str | None = None,
) -> HttpResponse:
    """A private file as a download, to someone whose permission the caller checked. In an object store,
    a redirect to the store's URL for it, presigned for ``PRESIGNED_DOWNLOAD_MAX_AGE_S`` and naming the
    download ``filename`` (the store answers ranges itself): the bytes do not pass through the portal.
    Otherwise the file itself, as ``stored_file_download`` sends it.

    Never for the viewer's volumes or a reader's blinded masks: a page whose Content-Security-Policy
    allows only the portal could not load them, and a storage key would tell a reader which item is which.
    """
    if private_storage_signs_urls():
        signed = private_file_signed_url(file.name, max_age_s=PRESIGNED_DOWNLOAD_MAX_AGE_S, filename=filename)
        response: HttpResponse = HttpResponseRedirect(signed)
        patch_cache_control(response, private=True, no_store=True)
        return response
    return stored_file_download(
        request, storage=file.storage, name=file.name, filename=filename, content_type=content_type, etag=etag
    )


def _range_response(
    *, storage: Storage, name: str, span: ByteRange, filename: str, content_type: str | None
) -> HttpResponse:
    """206 with the range's bytes, read from storage as they are sent; 416 when it starts past the end."""
    if not span.satisfiable:
        sentence = f"The file has {span.size} bytes: a range starting at byte {span.first} is past its end."
        refusal = JsonResponse({"code": "range_not_satisfiable", "detail": sentence}, status=416)
        refusal["Content-Range"] = f"bytes */{span.size}"
        return refusal

    def chunks() -> Iterator[bytes]:
        with storage.open(name, "rb") as handle:
            handle.seek(span.first)
            left = span.last - span.first + 1
            while left > 0:
                chunk = handle.read(min(_RANGE_CHUNK_BYTES, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    response = StreamingHttpResponse(
        chunks(), status=206, content_type=content_type or "application/octet-stream"
    )
    response["Content-Length"] = str(span.last - span.first + 1)
    response["Content-Range"] = f"bytes {span.first}-{span.last}/{span.size}"
    response["Content-Disposition"] = content_disposition_header(True, filename) or "attachment"
    return response


@require_safe
def private_file_signed_download(request: HttpRequest, token: str) -> HttpResponse:
    """The private file a signed link names, to whoever holds the link until it expires (no login: the
    signature is the permission, given by the view that made the link); 403 with a sentence for a link
    the portal did not make, a changed one or an expired one."""
    try:
        signed = private_file_signed_read(token=token)
    except SignedLinkRefused as refusal:
        return JsonResponse({"code": refusal.code, "detail": refusal.sentence}, status=refusal.http_status)
    storage = private_storage()
    if not storage.exists(signed.name):
        sentence = "The file of this download link is no longer stored: ask the portal for a new link."
        return JsonResponse({"code": "not_found", "detail": sentence}, status=404)
    filename = signed.filename or signed.name.rsplit("/", 1)[-1]
    response = stored_file_download(request, storage=storage, name=signed.name, filename=filename)
    patch_cache_control(response, private=True, no_store=True)
    return response
