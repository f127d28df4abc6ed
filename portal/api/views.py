"""API views: thin adapters over the selectors and services of the apps."""

from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.accounts.selectors import user_role_list
from portal.accounts.services import challenge_join
from portal.api.serializers import (
    CaseQuerySerializer,
    CaseSerializer,
    ChallengeSerializer,
    MeSerializer,
    PhaseSerializer,
    RoleSerializer,
)
from portal.challenges.models import Challenge
from portal.challenges.selectors import challenge_list_visible_to, phase_list
from portal.datasets.models import Image
from portal.datasets.selectors import (
    case_list_with_images,
    cases_visible_to,
    cases_with_outcome_visibility,
    image_can_download,
)
from portal.datasets.views import image_file_response


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
        """The challenge's cases whose images the user may download, with their download URLs."""
        query = CaseQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        cases = cases_visible_to(user=request.user).filter(dataset__challenge=self.get_object())
        if "split" in query.validated_data:
            cases = cases.filter(split=query.validated_data["split"].upper())
        cases = cases_with_outcome_visibility(user=request.user, cases=cases.select_related("dataset"))
        page = self.paginate_queryset(case_list_with_images(cases=cases))
        serializer = CaseSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)

    @extend_schema(request=None, responses={201: RoleSerializer, 400: OpenApiResponse(description="Refused")})
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def join(self, request: Request, slug: str, format: str | None = None) -> Response:
        """Take part in a public challenge as a participant; joining twice changes nothing."""
        role = challenge_join(challenge=self.get_object(), user=request.user)
        return Response(RoleSerializer(role).data, status=status.HTTP_201_CREATED)


class MeView(APIView):
    """The logged-in user and the roles they hold."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        user = request.user
        data = {"username": user.username, "email": user.email, "roles": user_role_list(user=user)}
        return Response(MeSerializer(data).data)


class ImageFileView(APIView):
    """Download one image file the user may see (ETag is its sha256; If-None-Match gives 304)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "application/gzip"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> HttpResponse:
        image = Image.objects.select_related("case").filter(pk=pk).first()
        if image is None or not image_can_download(user=request.user, image=image):
            raise Http404("No such image.")
        return image_file_response(request=request, image=image)
