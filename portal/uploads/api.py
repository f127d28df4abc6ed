"""The HTTP side of a chunked upload, the same for every upload the API takes: a chunk is a ``PUT`` of the
body's bytes with ``Content-Range: bytes START-END/TOTAL``, read as a stream (``ChunkParser``); a chunk
that does not start where the upload stands is a 409 carrying ``received_bytes`` to resume from."""

import io
import re
import uuid
from collections.abc import Callable
from typing import IO, ClassVar, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

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


class ChunkedUploadView(APIView):
    """How much of an upload arrived (``GET``), and its next chunk (``PUT`` with ``Content-Range``): the two
    requests of every chunked upload. A subclass names its serializer, the selector that finds the user's
    upload (``upload_get(user=, upload_id=)``) and the service that appends a chunk to it
    (``upload_append(upload_id=, user=, start=, total_bytes=, length=, stream=)``), both raising the model's
    ``DoesNotExist`` for an upload that is not the user's (a 404); and declares its schema with
    ``chunked_upload_schema``."""

    permission_classes = [IsAuthenticated]
    parser_classes = [ChunkParser]
    serializer_class: ClassVar[type[serializers.Serializer]]
    upload_get: ClassVar[Callable[..., Model]]
    upload_append: ClassVar[Callable[..., Model]]

    def get(self, request: Request, upload_id: uuid.UUID) -> Response:
        return Response(self.serializer_class(self._upload_or_404(request, upload_id)).data)

    def put(self, request: Request, upload_id: uuid.UUID) -> Response:
        self._upload_or_404(request, upload_id)  # someone else's upload is a 404 whatever the chunk
        start, length, total = chunk_range(request)
        try:
            upload = self.upload_append(
                user=request.user,
                upload_id=upload_id,
                start=start,
                total_bytes=total,
                length=length,
                stream=chunk_stream(request),
            )
        except ObjectDoesNotExist as error:
            raise Http404("No such upload.") from error
        except UploadOffsetMismatch as mismatch:
            return offset_mismatch_response(mismatch)
        return Response(self.serializer_class(upload).data)

    def _upload_or_404(self, request: Request, upload_id: uuid.UUID) -> Model:
        try:
            return self.upload_get(user=request.user, upload_id=upload_id)
        except ObjectDoesNotExist as error:
            raise Http404("No such upload.") from error


View = TypeVar("View", bound=type[ChunkedUploadView])


def chunked_upload_schema(serializer: type[serializers.Serializer]) -> Callable[[View], View]:
    """The OpenAPI description of a ``ChunkedUploadView`` subclass whose uploads ``serializer`` shows."""
    return extend_schema_view(
        get=extend_schema(responses={200: serializer, 404: OpenApiResponse(description="No such upload")}),
        put=extend_schema(
            request={"application/octet-stream": bytes},
            parameters=[CONTENT_RANGE_HEADER],
            responses={
                200: serializer,
                400: OpenApiResponse(description="Refused, with a code"),
                404: OpenApiResponse(description="No such upload"),
                409: OpenApiResponse(description="The chunk does not start at received_bytes"),
            },
        ),
    )
