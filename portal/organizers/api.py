"""The API of the challenge's data page: an organizer's resumable upload of a release archive, and one
import's progress and report, which the import's page polls.

An upload is opened on the challenge (``POST``), then sent in chunks with ``PUT`` and ``Content-Range``
as an algorithm image is (``portal.uploads.api``); ``GET`` tells how many bytes arrived. Anyone who may not
see the challenge gets a 404, anyone else who does not organize it a 403 (the organizer pages' one door,
``views.access``); an upload is its uploader's only.
"""

import hashlib
import json
import uuid

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.datasets import selectors, services
from portal.datasets.models import DatasetImport, ReleaseUpload
from portal.organizers.views.access import challenge_organized_or_refused
from portal.submissions.api import ETAG, IF_NONE_MATCH, NOT_MODIFIED, answer_unless_unchanged
from portal.uploads.api import (
    CONTENT_RANGE_HEADER,
    ChunkParser,
    chunk_range,
    chunk_stream,
    offset_mismatch_response,
)
from portal.uploads.exceptions import UploadOffsetMismatch
from portal.uploads.services import CHUNK_BYTES


class ReleaseUploadStartSerializer(serializers.Serializer):
    file_name = serializers.CharField(
        max_length=255, help_text="The archive's name: .tar.gz, .tgz, .tar or .zip of the release folder."
    )
    total_bytes = serializers.IntegerField(min_value=1, help_text="Size of the whole archive in bytes.")


class ReleaseUploadSerializer(serializers.ModelSerializer):
    file_name = serializers.CharField(source="original_name")
    chunk_bytes = serializers.SerializerMethodField()
    complete = serializers.SerializerMethodField()

    class Meta:
        model = ReleaseUpload
        fields = ["id", "file_name", "total_bytes", "received_bytes", "chunk_bytes", "complete"]

    def get_chunk_bytes(self, upload: ReleaseUpload) -> int:
        return CHUNK_BYTES

    def get_complete(self, upload: ReleaseUpload) -> bool:
        """Whether every byte arrived: the archive may be imported."""
        return bool(upload.sha256)


class DatasetImportSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug")
    report = serializers.JSONField(
        help_text="Once it succeeded: cases, images, masks, missing_files (per case), problems (sentences)."
    )

    class Meta:
        model = DatasetImport
        fields = [
            "id",
            "dataset",
            "split",
            "source_path",
            "status",
            "progress_stage",
            "progress_done",
            "progress_total",
            "cases_imported",
            "report",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


def _upload_or_404(request: Request, upload_id: uuid.UUID) -> ReleaseUpload:
    try:
        return selectors.release_upload_get_for(user=request.user, upload_id=upload_id)
    except ReleaseUpload.DoesNotExist as error:
        raise Http404("No such upload.") from error


class ChallengeReleaseUploadsView(APIView):
    """Open a resumable upload of a release archive to import into the challenge (its organizers only)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=ReleaseUploadStartSerializer,
        responses={
            201: ReleaseUploadSerializer,
            400: OpenApiResponse(description="Refused, with a code"),
            403: OpenApiResponse(description="Not an organizer of the challenge"),
            404: OpenApiResponse(description="No such challenge"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        challenge = challenge_organized_or_refused(request, slug)
        start = ReleaseUploadStartSerializer(data=request.data)
        start.is_valid(raise_exception=True)
        upload = services.release_upload_start(
            challenge=challenge,
            user=request.user,
            file_name=start.validated_data["file_name"],
            total_bytes=start.validated_data["total_bytes"],
        )
        return Response(ReleaseUploadSerializer(upload).data, status=status.HTTP_201_CREATED)


class ReleaseUploadView(APIView):
    """How much of a release upload arrived (``GET``), and its next chunk (``PUT`` with ``Content-Range``)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [ChunkParser]

    @extend_schema(
        responses={200: ReleaseUploadSerializer, 404: OpenApiResponse(description="No such upload")}
    )
    def get(self, request: Request, upload_id: uuid.UUID) -> Response:
        return Response(ReleaseUploadSerializer(_upload_or_404(request, upload_id)).data)

    @extend_schema(
        request={"application/octet-stream": bytes},
        parameters=[CONTENT_RANGE_HEADER],
        responses={
            200: ReleaseUploadSerializer,
            400: OpenApiResponse(description="Refused, with a code"),
            404: OpenApiResponse(description="No such upload"),
            409: OpenApiResponse(description="The chunk does not start at received_bytes"),
        },
    )
    def put(self, request: Request, upload_id: uuid.UUID) -> Response:
        upload = _upload_or_404(request, upload_id)
        start, length, total = chunk_range(request)
        try:
            upload = services.release_upload_append(
                upload_id=upload.pk,
                user=request.user,
                start=start,
                total_bytes=total,
                length=length,
                stream=chunk_stream(request),
            )
        except UploadOffsetMismatch as mismatch:
            return offset_mismatch_response(mismatch)
        return Response(ReleaseUploadSerializer(upload).data)


def _import_etag(dataset_import: DatasetImport) -> str:
    """An ETag of what the import's page shows: its status, progress, outcome."""
    state = [
        dataset_import.status,
        dataset_import.progress_stage,
        dataset_import.progress_done,
        dataset_import.progress_total,
        dataset_import.error,
        dataset_import.cases_imported,
        dataset_import.finished_at,
        dataset_import.attempt,
    ]
    digest = hashlib.sha256(json.dumps(state, default=str).encode()).hexdigest()
    return f'"{digest[:32]}"'


class ChallengeDatasetImportView(APIView):
    """One import into the challenge's datasets: its status and progress while it runs, then the
    importer's report or why it failed. The import's page polls it with the ETag of its last read."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[IF_NONE_MATCH, ETAG],
        responses={
            200: DatasetImportSerializer,
            304: NOT_MODIFIED,
            403: OpenApiResponse(description="Not an organizer of the challenge"),
            404: OpenApiResponse(description="No such import"),
        },
    )
    def get(self, request: Request, slug: str, pk: int) -> Response:
        challenge = challenge_organized_or_refused(request, slug)
        dataset_import = (
            selectors.dataset_import_list_for_challenge(challenge=challenge).filter(pk=pk).first()
        )
        if dataset_import is None:
            raise Http404("No such import.")
        return answer_unless_unchanged(
            request,
            etag=_import_etag(dataset_import),
            answer=lambda: DatasetImportSerializer(dataset_import).data,
        )
