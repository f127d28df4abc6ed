"""The API of the organizer's pages: an organizer's resumable upload of a release archive, one import's
progress and report, which the import's page polls, and the one-step external validation of an ensemble.

An upload is opened on the challenge (``POST``), then sent in chunks with ``PUT`` and ``Content-Range``
as an algorithm image is (``portal.uploads.api``); ``GET`` tells how many bytes arrived. Anyone who may not
see the challenge gets a 404, anyone else who does not organize it a 403 (the organizer pages' one door,
``views.access``); an upload is its uploader's only.
"""

import hashlib
import json

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.datasets import selectors, services
from portal.datasets.models import CaseAttributeTable, DatasetImport, ReleaseUpload
from portal.leaderboards.api import EnsembleSerializer
from portal.leaderboards.ensembles import ensemble_get_for_organizer
from portal.leaderboards.models import Ensemble
from portal.organizers.services import ensemble_validate, ensemble_validation_phase_get
from portal.organizers.views.access import challenge_organized_or_refused
from portal.submissions.api import ETAG, IF_NONE_MATCH, NOT_MODIFIED, answer_unless_unchanged
from portal.uploads.api import ChunkedUploadView, chunked_upload_schema
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


@chunked_upload_schema(ReleaseUploadSerializer)
class ReleaseUploadView(ChunkedUploadView):
    """How much of a release upload arrived (``GET``), and its next chunk (``PUT`` with ``Content-Range``)."""

    serializer_class = ReleaseUploadSerializer

    upload_get = staticmethod(selectors.release_upload_get_for)
    upload_append = staticmethod(services.release_upload_append)


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


class CaseAttributeTableUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,  # stored, then refused with the service's sentence
        help_text="A CSV (UTF-8) or XLSX table: a 'case' column naming each case as the dataset does, and "
        "a column per attribute (centre, scanner, acquisition...).",
    )


class CaseAttributeTableSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug")
    columns = serializers.ListField(child=serializers.CharField(), help_text="The attribute columns applied.")
    problems = serializers.ListField(
        child=serializers.CharField(), help_text="Why the table was refused: one sentence per problem."
    )

    class Meta:
        model = CaseAttributeTable
        fields = [
            "id",
            "dataset",
            "original_name",
            "status",
            "columns",
            "cases_named",
            "problems",
            "uploaded_at",
        ]


class DatasetCaseAttributesView(APIView):
    """Upload a dataset's table of case attributes (its challenge's organizers only): 201 when applied,
    400 with a sentence per problem when refused (the file is kept either way, and no case changed)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": CaseAttributeTableUploadSerializer},
        responses={
            201: CaseAttributeTableSerializer,
            400: OpenApiResponse(CaseAttributeTableSerializer, description="Refused: see its problems"),
            403: OpenApiResponse(description="Not an organizer of the challenge"),
            404: OpenApiResponse(description="No such challenge or dataset"),
        },
    )
    def post(self, request: Request, slug: str, dataset_slug: str) -> Response:
        challenge = challenge_organized_or_refused(request, slug)
        dataset = challenge.datasets.filter(slug=dataset_slug).first()
        if dataset is None:
            raise Http404("No such dataset.")
        upload = CaseAttributeTableUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        file = upload.validated_data["file"]
        table = services.case_attribute_table_upload(
            dataset=dataset, content=file, original_name=file.name, uploaded_by=request.user
        )
        applied = table.status == CaseAttributeTable.Status.APPLIED
        return Response(
            CaseAttributeTableSerializer(table).data,
            status=status.HTTP_201_CREATED if applied else status.HTTP_400_BAD_REQUEST,
        )


class EnsembleValidationSerializer(serializers.Serializer):
    phase = serializers.SlugField(help_text="The slug of a validation phase of the ensemble's challenge.")


class EnsembleValidationsView(APIView):
    """Validate an ensemble on a validation phase in one step (POST): its members not yet re-run there are
    re-run, and the ensemble of the re-runs (same rule, same member order) is built once they have all
    ended; poll it at ``/api/ensembles/ID/``. Organizers of the challenge only (a 404 for anyone else: an
    ensemble is the organizers' own)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=EnsembleValidationSerializer,
        responses={
            201: EnsembleSerializer,
            400: OpenApiResponse(description="The ensemble cannot be validated there (a sentence)."),
            404: OpenApiResponse(description="No such ensemble"),
        },
    )
    def post(self, request: Request, ensemble_id: int) -> Response:
        try:
            ensemble = ensemble_get_for_organizer(user=request.user, ensemble_id=ensemble_id)
        except Ensemble.DoesNotExist as error:
            raise Http404("No such ensemble.") from error
        choice = EnsembleValidationSerializer(data=request.data)
        choice.is_valid(raise_exception=True)
        phase = ensemble_validation_phase_get(ensemble=ensemble, slug=choice.validated_data["phase"])
        validated = ensemble_validate(ensemble=ensemble, phase=phase, user=request.user)
        return Response(EnsembleSerializer(validated).data, status=status.HTTP_201_CREATED)
