"""The submissions API: upload predictions to a phase, follow a submission, cancel it, choose the final one.

Thin adapters over ``services`` and ``selectors``: a submission the user may not see is a 404, whoever
made it; a refusal is a 400 with the service's sentence and its stable ``code``.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.challenges.models import Phase
from portal.submissions import selectors, services
from portal.submissions.exceptions import UploadTooLarge
from portal.submissions.models import CaseResult, Submission, SubmissionStateChange
from portal.submissions.publication import (
    phase_counted_submission_sentence,
    submission_case_results_visible_to,
)
from portal.submissions.uploads import upload_guard_install


class StateChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = SubmissionStateChange
        fields = ["from_status", "to_status", "at", "note"]


class CaseResultSerializer(serializers.ModelSerializer):
    case = serializers.CharField(source="case.name")
    notes = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="How the mask was read, e.g. that its spacing or origin differed from the case's and "
        "it was scored on the case's grid; empty when there is nothing to say.",
    )

    class Meta:
        model = CaseResult
        fields = ["case", "metrics", "error", "notes"]


class VersionScoresSerializer(serializers.Serializer):
    ground_truth_version = serializers.IntegerField()
    is_current = serializers.BooleanField(help_text="The phase is scored on this version now.")
    cases = serializers.IntegerField(help_text="Cases scored on this version.")
    metrics_mean = serializers.DictField(child=serializers.FloatField())


class SubmissionSerializer(serializers.ModelSerializer):
    phase = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    team = serializers.StringRelatedField(allow_null=True, help_text="Null for a participant without a team.")
    creator = serializers.StringRelatedField()
    state_changes = StateChangeSerializer(many=True, read_only=True)
    metrics_mean = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id",
            "phase",
            "team",
            "creator",
            "status",
            "created_at",
            "state_changes",
            "problems",
            "error",
            "metrics_mean",
            "is_final_selection",
            "check_only",
        ]
        extra_kwargs = {
            "check_only": {
                "help_text": (
                    "A check-only try: every check of a real submission, then CHECKED; never scored, never "
                    "on the leaderboard, not counted toward the phase's limits."
                )
            }
        }

    @extend_schema_field(serializers.DictField(child=serializers.FloatField(), allow_null=True))
    def get_metrics_mean(self, submission: Submission) -> dict[str, float] | None:
        return submission.metrics_mean if submission.status == Submission.Status.SUCCEEDED else None


class SubmissionDetailSerializer(SubmissionSerializer):
    case_results = serializers.SerializerMethodField()
    masks_noted = serializers.SerializerMethodField()
    scores_by_version = serializers.SerializerMethodField()
    counted_submission_sentence = serializers.SerializerMethodField()

    class Meta(SubmissionSerializer.Meta):
        fields = [
            *SubmissionSerializer.Meta.fields,
            "case_results",
            "masks_noted",
            "scores_by_version",
            "counted_submission_sentence",
        ]

    @extend_schema_field(CaseResultSerializer(many=True, allow_null=True))
    def get_case_results(self, submission: Submission) -> list[dict[str, object]] | None:
        """Per-case scores, or null where the phase keeps them from participants."""
        if not self.context["case_results_visible"]:
            return None
        results = selectors.submission_case_result_list(submission=submission)
        return CaseResultSerializer(results, many=True).data

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_masks_noted(self, submission: Submission) -> int | None:
        """Where per-case results are hidden: how many masks had a note (another spacing or origin than
        their case's, scored on the case's grid), naming no case; null where ``case_results`` carry the
        notes case by case."""
        if self.context["case_results_visible"]:
            return None
        return selectors.submission_masks_noted_count(submission=submission)

    @extend_schema_field(VersionScoresSerializer(many=True, allow_null=True))
    def get_scores_by_version(self, submission: Submission) -> list[dict[str, object]] | None:
        """Mean scores on each ground-truth version the submission was scored on; organizers only."""
        scores = selectors.submission_scores_by_version(user=self.context["user"], submission=submission)
        return None if scores is None else VersionScoresSerializer(scores, many=True).data

    @extend_schema_field(
        serializers.CharField(
            help_text="Which of a team's submissions the phase's leaderboard counts (the selected, the "
            "latest or the best), as the submission page says it beside 'Select as final'."
        )
    )
    def get_counted_submission_sentence(self, submission: Submission) -> str:
        return str(self.context["counted_submission_sentence"])


class SubmissionUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A .zip or .tar.gz of masks, one per case, named by case id.")
    check_only = serializers.BooleanField(
        default=False,
        help_text=(
            "Only check the archive as a real submission is checked: not scored, not counted toward the "
            "phase's limits (at most a few such tries a day)."
        ),
    )


def _phase_or_404(request: Request, slug: str) -> Phase:
    try:
        return selectors.phase_get_for_submissions(user=request.user, slug=slug)
    except Phase.DoesNotExist as error:
        raise Http404("No such phase.") from error


def _submission_or_404(request: Request, pk: int) -> Submission:
    try:
        return selectors.submission_get_visible_to(user=request.user, submission_id=pk)
    except Submission.DoesNotExist as error:
        raise Http404("No such submission.") from error


def _with_state_changes(submissions: QuerySet[Submission]) -> QuerySet[Submission]:
    return submissions.prefetch_related(
        Prefetch("state_changes", queryset=SubmissionStateChange.objects.order_by("at", "pk"))
    )


class UploadTooLargeError(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


@contextmanager
def _too_large_as_413() -> Iterator[None]:
    try:
        yield
    except UploadTooLarge as refusal:
        raise UploadTooLargeError(" ".join(refusal.messages)) from None


class PhaseSubmissionsView(APIView):
    """The user's team's submissions to a phase (every team's for its organizers), and new uploads."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Check an upload's size before anything reads its body (session authentication's CSRF check
        does): a 413 with the phase's cap, or the cap applied as the body streams. The phase is looked up
        by slug alone here (an unknown slug gets the default cap); who may see it is checked next."""
        with _too_large_as_413():
            if request.method == "POST":
                phase = Phase.objects.filter(slug=kwargs.get("slug")).first() or Phase()
                upload_guard_install(request._request, phase=phase)
            super().initial(request, *args, **kwargs)

    @extend_schema(responses=SubmissionSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        phase = _phase_or_404(request, slug)
        submissions = selectors.submission_list_visible_to(user=request.user, phase=phase)
        return Response(SubmissionSerializer(_with_state_changes(submissions), many=True).data)

    @extend_schema(
        request={"multipart/form-data": SubmissionUploadSerializer},
        responses={
            201: SubmissionSerializer,
            400: OpenApiResponse(description="Refused, with a code"),
            413: OpenApiResponse(description="Larger than the phase takes (code too_large)"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        phase = _phase_or_404(request, slug)
        with _too_large_as_413():
            upload = SubmissionUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        submission = services.submission_create(
            phase=phase,
            user=request.user,
            upload=upload.validated_data["file"],
            check_only=upload.validated_data["check_only"],
        )
        submission.refresh_from_db()
        return Response(SubmissionSerializer(submission).data, status=status.HTTP_201_CREATED)


IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The ETag of the answer read last: the API answers 304, without a body, if nothing changed.",
)
ETAG = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 304],
    description="Changes whenever the answer would; send it back as If-None-Match when polling.",
)
NOT_MODIFIED = OpenApiResponse(description="Nothing changed since the ETag sent as If-None-Match.")


def answer_unless_unchanged(request: Request, *, etag: str, answer: Callable[[], object]) -> Response:
    """The answer with its ETag, or a bodiless 304 when the request's If-None-Match names that ETag, so
    that a page polling work in progress costs a serialization only when something changed."""
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(answer(), headers=headers)


class SubmissionDetailView(APIView):
    """One submission: its status, every change of it, the problems found, its scores. Pages poll it while
    the submission is in progress, with the ETag of their last read as If-None-Match."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[IF_NONE_MATCH, ETAG],
        responses={200: SubmissionDetailSerializer, 304: NOT_MODIFIED},
    )
    def get(self, request: Request, pk: int) -> Response:
        submission = _submission_or_404(request, pk)
        visible = submission_case_results_visible_to(user=request.user, submission=submission)
        counted = phase_counted_submission_sentence(phase=submission.phase)
        context = {
            "case_results_visible": visible,
            "user": request.user,
            "counted_submission_sentence": counted,
        }
        serializer = SubmissionDetailSerializer(submission, context=context)
        etag = selectors.submission_state_etag(
            submission=submission, case_results_visible=visible, counted_submission_sentence=counted
        )
        return answer_unless_unchanged(request, etag=etag, answer=lambda: serializer.data)


class SubmissionCancelView(APIView):
    """Cancel a pending or checking submission; it no longer counts toward the limits."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: SubmissionSerializer, 400: OpenApiResponse()})
    def post(self, request: Request, pk: int) -> Response:
        _submission_or_404(request, pk)
        submission = services.submission_cancel(submission_id=pk, user=request.user)
        return Response(SubmissionSerializer(submission).data)


class SubmissionSelectFinalView(APIView):
    """Choose a scored submission as the team's final one in its phase."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: SubmissionSerializer, 400: OpenApiResponse()})
    def post(self, request: Request, pk: int) -> Response:
        _submission_or_404(request, pk)
        submission = services.submission_select_final(submission_id=pk, user=request.user)
        return Response(SubmissionSerializer(submission).data)


class SubmissionRequeueView(APIView):
    """Queue a stuck submission's current step again (organizers of its challenge)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: SubmissionSerializer,
            400: OpenApiResponse(description="It has ended, or a live worker holds its step (code held)"),
            403: OpenApiResponse(description="Not an organizer of its challenge"),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        _submission_or_404(request, pk)
        submission = services.submission_requeue(submission_id=pk, user=request.user)
        return Response(SubmissionSerializer(submission).data)


class StopSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why, in a sentence its team will read.")


class SubmissionStopView(APIView):
    """Stop a submission whose steps have not ended, with a sentence for its team (organizers)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=StopSerializer,
        responses={
            200: SubmissionSerializer,
            400: OpenApiResponse(description="It has ended, or no reason was given"),
            403: OpenApiResponse(description="Not an organizer of its challenge"),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        _submission_or_404(request, pk)
        stop = StopSerializer(data=request.data)
        stop.is_valid(raise_exception=True)
        submission = services.submission_stop(
            submission_id=pk, user=request.user, reason=stop.validated_data["reason"]
        )
        return Response(SubmissionSerializer(submission).data)
