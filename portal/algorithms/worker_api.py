"""The API of remote workers (``portal.algorithms.remote``): the next job, signs of life, the outcome.

Only a remote worker's key opens it (``Authorization: Worker <key>``); people's tokens and sessions open
nothing here, and a worker's key opens nothing else. No throttle: a worker is trusted with hidden cases
already, and its requests are a few per job.
"""

import json
import tempfile
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inference.runner import JobResult
from inference.sandbox import RunOutcome
from portal.algorithms import remote
from portal.algorithms.models import RemoteWorker


class WorkerKeyAuthentication(BaseAuthentication):
    """``Authorization: Worker <key>``: the request is the remote worker's (``request.auth``)."""

    keyword = "Worker"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, RemoteWorker] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        worker = (
            remote.remote_worker_authenticate(key=parts[1].decode(errors="replace"))
            if len(parts) == 2
            else None
        )
        if worker is None:
            raise AuthenticationFailed(
                "This worker key is unknown or revoked: ask the portal's administrators for a new one"
                " (python manage.py remote_worker add NAME)."
            )
        return AnonymousUser(), worker

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class WorkerKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = WorkerKeyAuthentication
    name = "workerKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A remote worker's key, as `Worker <key>`.",
        }


class IsRemoteWorker(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.auth, RemoteWorker)


class WorkerView(APIView):
    authentication_classes = [WorkerKeyAuthentication]
    permission_classes = [IsRemoteWorker]
    throttle_classes: list[type] = []

    @property
    def worker(self) -> RemoteWorker:
        assert isinstance(self.request.auth, RemoteWorker)
        return self.request.auth


class StoredFileSerializer(serializers.Serializer):
    source = serializers.URLField(help_text="A signed link that opens the file for a few minutes.")
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    file_name = serializers.CharField()


class JobTicketSerializer(serializers.Serializer):
    """``inference.tickets.JobTicket`` as JSON."""

    job_id = serializers.IntegerField()
    claim = serializers.CharField(help_text="Send it with every beat and with the outcome.")
    container_name = serializers.CharField()
    image_id = serializers.CharField(help_text="The image's digest: its archive is fetched only if missing.")
    image_archive = StoredFileSerializer()
    interface_set = serializers.CharField()
    inputs = serializers.DictField(
        child=serializers.JSONField(),
        help_text='By slug: {"file": {...}} for an image, {"value": ...} for JSON.',
    )
    limits = serializers.DictField(
        child=serializers.JSONField(), help_text="inference.interfaces.SandboxLimits."
    )
    gpu = serializers.BooleanField()
    heartbeat_s = serializers.FloatField(help_text="Beat at least this often while the job runs.")


class ClaimSerializer(serializers.Serializer):
    claim = serializers.CharField(max_length=200)


class OutcomeSerializer(serializers.Serializer):
    exit_code = serializers.IntegerField()
    timed_out = serializers.BooleanField()
    oom = serializers.BooleanField()
    output_over_cap = serializers.BooleanField()
    stdout_tail = serializers.CharField(allow_blank=True, trim_whitespace=False)
    stderr_tail = serializers.CharField(allow_blank=True, trim_whitespace=False)
    duration_s = serializers.FloatField(min_value=0)
    had_gpu = serializers.BooleanField()


class ResultSerializer(serializers.Serializer):
    outcome = OutcomeSerializer(
        allow_null=True, help_text="Null when the container was refused before it ran."
    )
    failure = serializers.CharField(allow_null=True, help_text="Why there is no segmentation, for its team.")
    stage_s = serializers.FloatField(min_value=0, default=0.0)
    collect_s = serializers.FloatField(min_value=0, default=0.0)
    unexpected = serializers.BooleanField(
        default=False, help_text="The worker failed unexpectedly: the job fails with the general sentence."
    )


class ReportSerializer(ClaimSerializer):
    result = serializers.CharField(help_text="A ResultSerializer object, as JSON text.")
    segmentation = serializers.FileField(required=False, help_text="The checked segmentation (.nii.gz).")

    def validate_result(self, value: str) -> dict[str, Any]:
        try:
            fields = json.loads(value)
        except ValueError:
            raise serializers.ValidationError("The result is not JSON.") from None
        result = ResultSerializer(data=fields)
        result.is_valid(raise_exception=True)
        return dict(result.validated_data)


class NextJobView(WorkerView):
    @extend_schema(
        request=None,
        responses={
            200: JobTicketSerializer,
            204: OpenApiResponse(description="No job is waiting."),
            503: OpenApiResponse(description="Every waiting job was being claimed: ask again shortly."),
        },
    )
    def post(self, request: Request) -> Response:
        """Claim the next waiting job (shared fairly between teams) and get its ticket."""
        ticket = remote.remote_job_hand_out(worker=self.worker)
        if ticket is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ticket.to_json())


CLAIM_LOST = OpenApiResponse(description="The job is no longer this worker's: stop running it.")


class ClaimedJobView(WorkerView):
    """A request about a job this worker holds, naming the claim it was given."""

    parser_classes = [JSONParser]

    def claim(self) -> str:
        claim = ClaimSerializer(data=self.request.data)
        claim.is_valid(raise_exception=True)
        return str(claim.validated_data["claim"])


class JobBeatView(ClaimedJobView):
    @extend_schema(request=ClaimSerializer, responses={204: None, 409: CLAIM_LOST})
    def post(self, request: Request, pk: int) -> Response:
        """A sign of life while the job runs."""
        remote.remote_job_beat(worker=self.worker, job_id=pk, claim=self.claim())
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobLetGoView(ClaimedJobView):
    @extend_schema(request=ClaimSerializer, responses={204: None, 409: CLAIM_LOST})
    def post(self, request: Request, pk: int) -> Response:
        """Give the job back unended (this worker's engine or disk failed): another worker takes it."""
        remote.remote_job_let_go(worker=self.worker, job_id=pk, claim=self.claim())
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobReportView(WorkerView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ReportSerializer},
        responses={204: None, 409: CLAIM_LOST},
    )
    def post(self, request: Request, pk: int) -> Response:
        """How the job ended, with its segmentation when it succeeded."""
        report = ReportSerializer(data=request.data)
        report.is_valid(raise_exception=True)
        fields = report.validated_data["result"]
        claim = report.validated_data["claim"]
        if fields["unexpected"]:
            remote.remote_job_report(worker=self.worker, job_id=pk, claim=claim, result=None)
            return Response(status=status.HTTP_204_NO_CONTENT)
        outcome = None if fields["outcome"] is None else RunOutcome(**fields["outcome"])
        segmentation = report.validated_data.get("segmentation")
        with tempfile.TemporaryDirectory(prefix="isles-remote-report-") as scratch:
            segmentation_path = None
            if segmentation is not None and fields["failure"] is None:
                segmentation_path = Path(scratch) / "segmentation.nii.gz"
                with segmentation_path.open("wb") as target:
                    for chunk in segmentation.chunks():
                        target.write(chunk)
            result = JobResult(
                outcome=outcome,
                segmentation_path=segmentation_path,
                failure=fields["failure"]
                or (None if segmentation_path else "The worker reported no segmentation and no reason."),
                stage_s=fields["stage_s"],
                collect_s=fields["collect_s"],
            )
            remote.remote_job_report(worker=self.worker, job_id=pk, claim=claim, result=result)
        return Response(status=status.HTTP_204_NO_CONTENT)
