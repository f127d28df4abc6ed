"""The HTTP side of a chunked upload, the same for every upload the API takes: a chunk is a ``PUT`` of the
body's bytes with ``Content-Range: bytes START-END/TOTAL``, read as a stream (``ChunkParser``); a chunk
that does not start where the upload stands is a 409 carrying ``received_bytes`` to resume from."""

import io
import re
from typing import IO

from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response

from portal.uploads.exceptions import UploadOffsetMismatch, UploadRefused

CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")

CONTENT_RANGE_HEADER = OpenApiParameter(
    "Content-Range",
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern=CONTENT_RANGE.pattern,
    description="Where the chunk lies in the file: bytes START-END/TOTAL (END included).",
)


class ChunkParser(BaseParser):
    """A chunk of an upload: the body's stream, which the upload reads as it stores it."""

    media_type = "application/octet-stream"

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: object = None
    ) -> IO[bytes]:
        return stream


def chunk_range(request: Request) -> tuple[int, int, int]:
    """The chunk's start, length and the upload's total size, from its ``Content-Range``;
    ``UploadRefused`` when the header is missing or its range ends before it starts."""
    match = CONTENT_RANGE.match(request.headers.get("Content-Range", ""))
    if match is None:
        raise UploadRefused(
            "Send each chunk with a header Content-Range: bytes START-END/TOTAL.", code="range"
        )
    start, end, total = (int(group) for group in match.groups())
    if end < start:
        raise UploadRefused("The chunk's range ends before it starts.", code="range")
    return start, end - start + 1, total


def chunk_stream(request: Request) -> IO[bytes]:
    """The chunk's bytes as a stream (an empty one when the request has no body)."""
    return request.data if request.stream is not None else io.BytesIO()


def offset_mismatch_response(mismatch: UploadOffsetMismatch) -> Response:
    """The 409 telling a client where to resume."""
    return Response(
        {"code": "offset_mismatch", "detail": str(mismatch), "received_bytes": mismatch.received_bytes},
        status=status.HTTP_409_CONFLICT,
    )
