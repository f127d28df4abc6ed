"""The algorithms API: resumable uploads of image archives, the jobs of an algorithm submission, and the
re-runs of chosen submissions on a validation phase (organizers only).

An upload is opened on a phase, then sent in chunks with ``PUT`` and a ``Content-Range`` header
(``portal.uploads.api``, as every chunked upload); ``GET`` tells how many bytes arrived, so a client whose
connection was cut resumes from there. A chunk that does not start where the upload stands is a 409
carrying ``received_bytes``. The chunk that completes the
upload creates the submission, which the response names.
"""

import dataclasses
import hashlib
import json
from collections.abc import Sequence

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.accounts.selectors import user_is_organizer
from portal.algorithms import selectors, services, validation
from portal.algorithms.models import AlgorithmUpload, Job, ValidationRun
from portal.challenges.models import Phase
from portal.converters import BIGINT_MAX
from portal.submissions.api import ETAG, IF_NONE_MATCH, NOT_MODIFIED, answer_unless_unchanged
from portal.submissions.models import Submission
from portal.submissions.selectors import phase_get_for_submissions, submission_get_visible_to
from portal.uploads.api import ChunkedUploadView, chunked_upload_schema


class UploadStartSerializer(serializers.Serializer):
    total_bytes = serializers.IntegerField(min_value=1, help_text="Size of the whole archive in bytes.")
    check_only = serializers.BooleanField(
        default=False,
        help_text=(
            "Only check the image as a real submission is checked, then run its sanity case: not scored, "
            "not counted toward the phase's limits (at most a few such tries a day)."
        ),
    )


class UploadSerializer(serializers.ModelSerializer):
    chunk_bytes = serializers.SerializerMethodField()

    class Meta:
        model = AlgorithmUpload
        fields = ["id", "total_bytes", "received_bytes", "chunk_bytes", "submission", "check_only"]
        read_only_fields = fields

    def get_chunk_bytes(self, upload: AlgorithmUpload) -> int:
        return services.UPLOAD_CHUNK_BYTES


class JobSerializer(serializers.ModelSerializer):
    case = serializers.CharField(source="case.name")

    class Meta:
        model = Job
        fields = [
            "id",
            "case",
            "is_sanity",
            "status",
            "attempt",
            "exit_code",
            "duration_s",
            "had_gpu",
            "failure",
            "started_at",
            "finished_at",
        ]


class JobWithLogsSerializer(JobSerializer):
    """A job with its log, or null and the sentence saying why the user may not read it."""

    stdout_tail = serializers.SerializerMethodField()
    stderr_tail = serializers.SerializerMethodField()
    log_hidden = serializers.CharField(
        help_text="Why the log is not shown to you (empty when it is): e.g. a hidden test case's."
    )

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "stdout_tail", "stderr_tail", "log_hidden"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_stdout_tail(self, job: Job) -> str | None:
        return None if job.log_hidden else job.stdout_tail

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_stderr_tail(self, job: Job) -> str | None:
        return None if job.log_hidden else job.stderr_tail


class ContractFileSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    path = serializers.CharField(help_text="Where the container finds (or writes) it; <name> is any name.")
    file_format = serializers.CharField()
    required = serializers.BooleanField(help_text="Whether every case of the phase must have it.")


class AlgorithmContractSerializer(serializers.Serializer):
    """What the phase's containers read and write and their sandbox, from the table the workers use."""

    interface_set = serializers.CharField()
    inputs = ContractFileSerializer(many=True)
    output = ContractFileSerializer()
    clinical_keys = serializers.ListField(child=serializers.CharField())
    memory_gb = serializers.FloatField()
    cpus = serializers.FloatField(help_text="At most the worker machine's cores.")
    pids = serializers.IntegerField()
    time_limit_s = serializers.IntegerField()
    tmpfs_mb = serializers.IntegerField()
    output_max_mb = serializers.IntegerField()
    image_max_gb = serializers.FloatField()
    gpu = serializers.BooleanField()
    docker_run = serializers.ListField(
        child=serializers.CharField(), help_text="A docker run command with the portal's sandbox flags."
    )
    missing_inputs = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        help_text=(
            "Organizers only (null for others): one sentence per case, the sanity case first, that lacks an"
            " input the containers read."
        ),
    )


class PhaseAlgorithmUploadsView(APIView):
    """Open a resumable upload of an algorithm image archive (``docker save IMAGE | gzip``) to a phase."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        request=UploadStartSerializer,
        responses={201: UploadSerializer, 400: OpenApiResponse(description="Refused, with a code")},
    )
    def post(self, request: Request, slug: str) -> Response:
        try:
            phase = phase_get_for_submissions(user=request.user, slug=slug)
        except Phase.DoesNotExist as error:
            raise Http404("No such phase.") from error
        start = UploadStartSerializer(data=request.data)
        start.is_valid(raise_exception=True)
        upload = services.algorithm_upload_start(
            phase=phase,
            user=request.user,
            total_bytes=start.validated_data["total_bytes"],
            check_only=start.validated_data["check_only"],
        )
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)


class PhaseAlgorithmContractView(APIView):
    """The contract of a phase's algorithm containers and, for its organizers, the cases that cannot run."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: AlgorithmContractSerializer, 404: OpenApiResponse(description="No phase")})
    def get(self, request: Request, slug: str) -> Response:
        try:
            phase = phase_get_for_submissions(user=request.user, slug=slug)
        except Phase.DoesNotExist as error:
            raise Http404("No such phase.") from error
        if phase.submission_kind != Phase.SubmissionKind.ALGORITHM:
            raise Http404("This phase takes predictions, not algorithms.")
        contract = selectors.algorithm_contract(phase=phase, gpu=bool(settings.ISLES_GPU_DEVICE))
        missing = None
        if user_is_organizer(user=request.user, challenge=phase.challenge):
            missing = [gap.sentence for gap in selectors.phase_cases_missing_inputs(phase=phase)]
        data = {**dataclasses.asdict(contract), "missing_inputs": missing}
        return Response(AlgorithmContractSerializer(data).data)


@chunked_upload_schema(UploadSerializer)
class AlgorithmUploadView(ChunkedUploadView):
    """How much of an algorithm image upload arrived (``GET``), and its next chunk (``PUT`` with
    ``Content-Range``; the last one submits it)."""

    serializer_class = UploadSerializer

    upload_get = staticmethod(selectors.algorithm_upload_get_for)
    upload_append = staticmethod(services.algorithm_upload_append)


def _jobs_etag(submission: Submission, jobs: Sequence[Job]) -> str:
    """An ETag of the jobs' state as read (status, attempt, outcome, log, who may read it), and of the
    submission's status, which decides whether more jobs come."""
    jobs_state = [
        (job.pk, job.status, job.attempt, job.exit_code, job.duration_s, job.failure, job.started_at)
        for job in jobs
    ]
    logs_state = [
        (job.finished_at, job.log_hidden, len(job.stdout_tail), len(job.stderr_tail)) for job in jobs
    ]
    state = [submission.status, jobs_state, logs_state]
    digest = hashlib.sha256(json.dumps(state, default=str).encode()).hexdigest()
    return f'"{digest[:32]}"'


class SubmissionJobsView(APIView):
    """The jobs of an algorithm submission, with the logs the user may read (see
    ``selectors.job_list_for_submission``). Pages poll it while the submission is in progress, with the
    ETag of their last read as If-None-Match."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[IF_NONE_MATCH, ETAG],
        responses={200: JobWithLogsSerializer(many=True), 304: NOT_MODIFIED},
    )
    def get(self, request: Request, pk: int) -> Response:
        try:
            submission = submission_get_visible_to(user=request.user, submission_id=pk)
        except Submission.DoesNotExist as error:
            raise Http404("No such submission.") from error
        jobs = selectors.job_list_for_submission(submission=submission, user=request.user)
        return answer_unless_unchanged(
            request,
            etag=_jobs_etag(submission, jobs),
            answer=lambda: JobWithLogsSerializer(jobs, many=True).data,
        )


class ValidationRunsCreateSerializer(serializers.Serializer):
    submissions = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX),
        max_length=validation.MAX_RERUNS,
        help_text="Ids of the challenge's succeeded algorithm submissions to run on the phase's cases.",
    )


class ValidationRunSerializer(serializers.ModelSerializer):
    submission = serializers.IntegerField(source="submission_id", help_text="The re-run, a submission.")
    original = serializers.IntegerField(source="original_id", help_text="The submission whose image it runs.")
    phase = serializers.CharField(source="submission.phase.slug")
    status = serializers.CharField(source="submission.status")
    error = serializers.CharField(source="submission.error")
    metrics_mean = serializers.DictField(source="submission.metrics_mean", child=serializers.FloatField())
    skipped_cases = serializers.ListField(
        child=serializers.CharField(),
        help_text="One sentence per case not run (nor scored): it lacks an input.",
    )

    class Meta:
        model = ValidationRun
        fields = ["id", "submission", "original", "phase", "status", "error", "metrics_mean", "skipped_cases"]


class PhaseValidationRunsView(APIView):
    """A validation phase's re-runs (GET) and new re-runs of chosen algorithm submissions on its cases
    (POST), as jobs on the GPU workers: organizers of the challenge only. Poll the list for their status."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    def _phase(self, request: Request, slug: str) -> Phase:
        try:
            return validation.validation_phase_get_for_organizer(user=request.user, slug=slug)
        except Phase.DoesNotExist as error:
            raise Http404("No such validation phase.") from error

    @extend_schema(
        responses={
            200: ValidationRunSerializer(many=True),
            403: OpenApiResponse(description=validation.ORGANIZERS_ONLY),
            404: OpenApiResponse(description="No such validation phase"),
        }
    )
    def get(self, request: Request, slug: str) -> Response:
        phase = self._phase(request, slug)
        return Response(ValidationRunSerializer(validation.validation_run_list(phase=phase), many=True).data)

    @extend_schema(
        request=ValidationRunsCreateSerializer,
        responses={
            201: ValidationRunSerializer(many=True),
            400: OpenApiResponse(description="A submission cannot be re-run here (a sentence and a code)."),
            403: OpenApiResponse(description=validation.ORGANIZERS_ONLY),
            404: OpenApiResponse(description="No such validation phase"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        phase = self._phase(request, slug)
        choice = ValidationRunsCreateSerializer(data=request.data)
        choice.is_valid(raise_exception=True)
        runs = validation.validation_reruns_create(
            phase=phase, user=request.user, submissions=choice.validated_data["submissions"]
        )
        return Response(ValidationRunSerializer(runs, many=True).data, status=status.HTTP_201_CREATED)
