"""API views: thin adapters over the selectors and services of the apps."""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.accounts.models import ParticipationRequest
from portal.accounts.selectors import participation_request_sentence, user_email_verified, user_role_list
from portal.accounts.services import challenge_join
from portal.api.serializers import (
    CaseQuerySerializer,
    CaseSerializer,
    ChallengeSerializer,
    DataCardSerializer,
    DataTermsAcceptanceSerializer,
    DataTermsAcceptSerializer,
    MeSerializer,
    PhaseSerializer,
    ReleaseFileListSerializer,
    ReleaseQuerySerializer,
    RoleSerializer,
)
from portal.challenges.models import Challenge, Split
from portal.challenges.selectors import challenge_list_visible_to, phase_list
from portal.datasets.archives import (
    MANIFEST_NAME,
    ReleaseEntry,
    release_archive,
    release_cases_visible,
    release_entry_list,
)
from portal.datasets.models import GroundTruth, Image
from portal.datasets.selectors import (
    case_list_with_files,
    cases_visible_to,
    cases_with_outcome_visibility,
    data_card_get,
    data_terms_accepted,
    data_terms_require,
    ground_truth_can_download,
    image_can_download,
)
from portal.datasets.services import data_terms_accept
from portal.datasets.views import ground_truth_file_response, image_file_response


class ChallengeViewSet(viewsets.ReadOnlyModelViewSet):
    """Challenges the user may see: the public ones and those the user holds a role in.

    The router also routes each action with a format suffix (``cases.json``), passing ``format``: every
    action takes it.
    """

    serializer_class = ChallengeSerializer
    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[Challenge]:
        return challenge_list_visible_to(user=self.request.user)

    @extend_schema(responses=PhaseSerializer(many=True))
    @action(detail=True)
    def phases(self, request: Request, slug: str, format: str | None = None) -> Response:
        """The challenge's phases in order."""
        page = self.paginate_queryset(phase_list(challenge=self.get_object()))
        return self.get_paginated_response(PhaseSerializer(page, many=True).data)

    @extend_schema(parameters=[CaseQuerySerializer], responses=CaseSerializer(many=True))
    @action(detail=True, permission_classes=[IsAuthenticated])
    def cases(self, request: Request, slug: str, format: str | None = None) -> Response:
        """The challenge's cases whose images the user may download, with their download URLs, and the
        reference mask and outcomes of those whose ground truth the user may see (training cases)."""
        query = CaseQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        cases = cases_visible_to(user=request.user).filter(dataset__challenge=self.get_object())
        if "split" in query.validated_data:
            cases = cases.filter(split=query.validated_data["split"].upper())
        cases = cases_with_outcome_visibility(user=request.user, cases=cases.select_related("dataset"))
        page = self.paginate_queryset(case_list_with_files(cases=cases))
        serializer = CaseSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        request=None,
        responses={
            201: RoleSerializer,
            202: OpenApiResponse(
                description="The challenge's organizers approve participants: the request waits for them "
                "(its sentence in detail)."
            ),
            400: OpenApiResponse(description="Refused"),
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def join(self, request: Request, slug: str, format: str | None = None) -> Response:
        """Take part in a public challenge as a participant, or ask its organizers to approve it where they
        approve participants; joining twice changes nothing."""
        joined = challenge_join(challenge=self.get_object(), user=request.user)
        if isinstance(joined, ParticipationRequest):
            sentence = participation_request_sentence(participation_request=joined)
            return Response({"detail": sentence}, status=status.HTTP_202_ACCEPTED)
        return Response(RoleSerializer(joined).data, status=status.HTTP_201_CREATED)


class MeView(APIView):
    """The logged-in user and the roles they hold."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        user = request.user
        data = {
            "username": user.username,
            "email": user.email,
            "email_verified": user_email_verified(user=user),
            "roles": user_role_list(user=user),
        }
        return Response(MeSerializer(data).data)


RANGE = OpenApiParameter(
    "Range",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="One range of bytes, bytes=N- or bytes=N-M: the answer is a 206 with those bytes, so that a "
    "cut download goes on where it stopped (416 when N is past the end). Other forms are ignored.",
)
IF_RANGE = OpenApiParameter(
    "If-Range",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The ETag of the bytes already held: when the file is no longer that one, the whole file "
    "comes (200) instead of the range.",
)
FILE_RESPONSES = {
    (200, "application/gzip"): OpenApiTypes.BINARY,
    (206, "application/gzip"): OpenApiResponse(
        OpenApiTypes.BINARY, description="The range asked for; Content-Range says which bytes."
    ),
    403: OpenApiResponse(
        description="The challenge's data-use terms are not accepted yet (terms_not_accepted)."
    ),
    416: OpenApiResponse(
        description="The range starts past the file's end (range_not_satisfiable, with Content-Range: "
        "bytes */size)."
    ),
}


class ImageFileView(APIView):
    """Download one image file the user may see (ETag is its sha256; If-None-Match gives 304; a single
    Range gives 206)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[RANGE, IF_RANGE], responses=FILE_RESPONSES)
    def get(self, request: Request, pk: int) -> HttpResponse:
        image = Image.objects.select_related("case__dataset__challenge").filter(pk=pk).first()
        if image is None or not image_can_download(user=request.user, image=image):
            raise Http404("No such image.")
        data_terms_require(
            user=request.user,
            challenge=image.case.dataset.challenge,
            absolute_url=request.build_absolute_uri,
        )
        return image_file_response(request=request, image=image)


class GroundTruthFileView(APIView):
    """Download one reference mask the user may see: a training case's, or any to an organizer (ETag is
    its sha256; If-None-Match gives 304; a single Range gives 206). A hidden test case's mask is not
    found."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[RANGE, IF_RANGE], responses=FILE_RESPONSES)
    def get(self, request: Request, pk: int) -> HttpResponse:
        ground_truth = GroundTruth.objects.select_related("case__dataset__challenge").filter(pk=pk).first()
        if ground_truth is None or not ground_truth_can_download(
            user=request.user, ground_truth=ground_truth
        ):
            raise Http404("No such mask.")
        data_terms_require(
            user=request.user,
            challenge=ground_truth.case.dataset.challenge,
            absolute_url=request.build_absolute_uri,
        )
        return ground_truth_file_response(request=request, ground_truth=ground_truth)


def _release_entries(request: Request, slug: str) -> tuple[Challenge, list[ReleaseEntry]]:
    """The files of a challenge's release the request asks for and the user may download.

    The one place both the list and the archive pass through: a participant who has not accepted the
    challenge's current data-use terms is refused here (403, with where to accept them).
    """
    challenge = get_object_or_404(challenge_list_visible_to(user=request.user), slug=slug)
    query = ReleaseQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    split = Split(query.validated_data["split"].upper()) if "split" in query.validated_data else None
    names: list[str] | None = query.validated_data.get("case")
    cases = list(release_cases_visible(user=request.user, challenge=challenge, split=split, case_names=names))
    if not cases and names is None:
        raise PermissionDenied(
            "You may download no case of this challenge" + (" in this split." if split else ".")
        )
    unknown = sorted(set(names or ()) - {case.name for case in cases})
    if unknown:
        raise Http404(f"No such case to download: {', '.join(unknown)}.")
    # once there is something to download
    data_terms_require(user=request.user, challenge=challenge, absolute_url=request.build_absolute_uri)
    return challenge, release_entry_list(cases=cases)


class ReleaseFileListView(APIView):
    """The files of the challenge's release the user may download (images, the reference masks and outcome
    tables of training cases, admission tables), with the path, sha256 and size of each as the archive
    holds them."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[ReleaseQuerySerializer],
        responses={200: ReleaseFileListSerializer, 403: OpenApiResponse(description="No case to download")},
    )
    def get(self, request: Request, slug: str) -> Response:
        _, entries = _release_entries(request, slug)
        archive = release_archive(entries=entries)
        data = {"manifest": MANIFEST_NAME, "size_bytes": archive.size_bytes, "files": entries}
        return Response(ReleaseFileListSerializer(data, context={"request": request}).data)


class ReleaseArchiveView(APIView):
    """The same files as one tar, streamed as it is made: ``MANIFEST.sha256`` first, then every file under
    its path in the release (each dataset's files in a folder named after it)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[ReleaseQuerySerializer],
        responses={
            (200, "application/x-tar"): OpenApiTypes.BINARY,
            403: OpenApiResponse(description="No case to download"),
        },
    )
    def get(self, request: Request, slug: str) -> HttpResponse:
        challenge, entries = _release_entries(request, slug)
        archive = release_archive(entries=entries)
        split = request.query_params.get("split")
        response = StreamingHttpResponse(archive.stream(), content_type="application/x-tar")
        response["Content-Length"] = str(archive.size_bytes)
        name = f"{challenge.slug}-{split}" if split in ("train", "test") else challenge.slug
        response["Content-Disposition"] = f'attachment; filename="{name}.tar"'
        patch_cache_control(response, private=True, no_store=True)
        return response


class DataCardView(APIView):
    """The challenge's data card: licence, citation, data-use terms, the modalities of its cases with their
    grids and spacings, the cases per split, and whether you accepted the current terms (a participant
    does before the first download)."""

    @extend_schema(responses={200: DataCardSerializer})
    def get(self, request: Request, slug: str) -> Response:
        challenge = get_object_or_404(challenge_list_visible_to(user=request.user), slug=slug)
        view = data_card_get(challenge=challenge)
        card = view.card
        data = {
            "licence": card.licence if card else None,
            "citation": card.citation if card else None,
            "terms": card.terms if card else None,
            "terms_version": card.terms_version if card else None,
            "cases_by_split": view.cases_by_split,
            "modalities": view.modalities,
            "terms_accepted": data_terms_accepted(user=request.user, challenge=challenge),
        }
        return Response(DataCardSerializer(data).data)


class DataTermsAcceptView(APIView):
    """Accept the challenge's current data-use terms (a participant, before the first download), with or
    without consent to reruns of your team's algorithm on validation data; accepting again changes
    nothing."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=DataTermsAcceptSerializer,
        responses={
            200: DataTermsAcceptanceSerializer,
            400: OpenApiResponse(description="No terms to accept"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        challenge = get_object_or_404(challenge_list_visible_to(user=request.user), slug=slug)
        body = DataTermsAcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        acceptance = data_terms_accept(
            user=request.user,
            challenge=challenge,
            consents_to_reruns=body.validated_data["consents_to_reruns"],
        )
        return Response(DataTermsAcceptanceSerializer(acceptance).data)
