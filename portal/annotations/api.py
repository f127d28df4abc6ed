"""API of annotation campaigns: an assignment, saving a mask revision, marking a case done, an organizer
reopening a done case.

An annotator reads and writes only their own assignments; an organizer of the challenge reads every
assignment of its campaigns. Whatever a user may not see is a 404. Files go through the
permission-checked views of ``views.py``; a mask is saved as the raw bytes of a NIfTI file.
"""

from dataclasses import asdict
from typing import IO

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evaluation.annotation_masks import MAX_MASK_BYTES
from portal.accounts.models import User
from portal.accounts.selectors import user_is_organizer
from portal.annotations import selectors, services
from portal.annotations.models import AnnotationAssignment, MaskRevision
from portal.datasets.serializers import ViewerImageSerializer
from portal.datasets.views import viewer_image_of


class AnnotationFileSerializer(serializers.Serializer):
    url = serializers.CharField()
    name = serializers.CharField(help_text="A neutral file name with its extension, for the viewer.")


class NiftiParser(BaseParser):
    """The request body as bytes: a mask file as NiiVue writes it."""

    media_type = "application/octet-stream"

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: object = None) -> bytes:
        return stream.read(MAX_MASK_BYTES + 1)


class CampaignImageSerializer(ViewerImageSerializer):
    interface = serializers.CharField()


class RevisionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    url = serializers.CharField()
    name = serializers.CharField()
    lesion_volume_ml = serializers.FloatField()
    created_at = serializers.DateTimeField()


class ReopeningSerializer(serializers.Serializer):
    by = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField()
    reason = serializers.CharField()


class ReopenSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Why the case is reopened, in a sentence its annotator reads.")


class AssignmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    campaign = serializers.CharField()
    case = serializers.CharField()
    annotator = serializers.CharField()
    status = serializers.CharField()
    is_annotator = serializers.BooleanField(help_text="Whether the user may save and finish this mask.")
    reopen_url = serializers.CharField(
        allow_null=True, help_text="POST a reason here to reopen the done case (its challenge's organizers)."
    )
    reopened = ReopeningSerializer(allow_null=True, help_text="Who reopened the case last, and why.")
    images = CampaignImageSerializer(many=True)
    starting_mask = AnnotationFileSerializer()
    newest_revision = RevisionSerializer(allow_null=True)
    mask_url = serializers.CharField(help_text="PUT a NIfTI file here to save the next revision.")
    done_url = serializers.CharField(help_text="POST here to mark the case done.")
    done = serializers.IntegerField(help_text="The annotator's cases done in this campaign.")
    total = serializers.IntegerField()
    next_url = serializers.CharField(allow_null=True, help_text="The annotator's next unfinished case.")


def _assignment_or_404(request: Request, pk: int) -> AnnotationAssignment:
    try:
        return selectors.annotation_assignment_get(user=request.user, assignment_id=pk)
    except AnnotationAssignment.DoesNotExist as error:
        raise Http404("No such assignment.") from error


def _revision_data(revision: MaskRevision | None) -> dict[str, object] | None:
    if revision is None:
        return None
    return {
        "number": revision.number,
        "url": reverse(
            "annotation-revision-file", kwargs={"pk": revision.assignment_id, "number": revision.number}
        ),
        "name": "mask.nii.gz",
        "lesion_volume_ml": revision.lesion_volume_ml,
        "created_at": revision.created_at,
    }


def assignment_data(assignment: AnnotationAssignment, *, user: User) -> dict[str, object]:
    """What the drawing page needs to know of an assignment."""
    campaign = assignment.campaign_case.campaign
    done, total = selectors.annotation_progress_for(campaign=campaign, user=assignment.annotator)
    following = selectors.annotation_assignment_next(assignment=assignment)
    reopening = selectors.assignment_reopening(assignment=assignment)
    may_reopen = assignment.status == AnnotationAssignment.Status.DONE and user_is_organizer(
        user=user, challenge=campaign.challenge_id
    )
    return {
        "id": assignment.pk,
        "campaign": campaign.title,
        "case": assignment.campaign_case.case.name,
        "annotator": assignment.annotator.username,
        "status": assignment.status,
        "is_annotator": assignment.annotator_id == user.pk,
        "reopen_url": reverse("api:annotation-reopen", kwargs={"pk": assignment.pk}) if may_reopen else None,
        "reopened": None
        if reopening is None
        else {
            "by": None if reopening.by is None else reopening.by.username,
            "at": reopening.at,
            "reason": reopening.note,
        },
        "images": [
            {
                **asdict(
                    viewer_image_of(
                        interface=interface,
                        url=reverse("annotation-image", kwargs={"pk": assignment.pk, "index": index}),
                        name="image.nii.gz",
                    )
                ),
                "interface": interface,
            }
            for index, interface in enumerate(campaign.images)
        ],
        "starting_mask": {
            "url": reverse("annotation-starting-mask", kwargs={"pk": assignment.pk}),
            "name": "start.nii.gz",
        },
        "newest_revision": _revision_data(selectors.mask_revision_newest(assignment=assignment)),
        "mask_url": reverse("api:annotation-mask", kwargs={"pk": assignment.pk}),
        "done_url": reverse("api:annotation-done", kwargs={"pk": assignment.pk}),
        "done": done,
        "total": total,
        "next_url": None if following is None else reverse("annotation-draw", kwargs={"pk": following.pk}),
    }


class AssignmentView(APIView):
    """An assignment for the drawing page: images, starting mask and newest revision (where to resume)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=AssignmentSerializer)
    def get(self, request: Request, pk: int) -> Response:
        assignment = _assignment_or_404(request, pk)
        return Response(AssignmentSerializer(assignment_data(assignment, user=request.user)).data)


class AssignmentMaskView(APIView):
    """Save the annotator's mask (a NIfTI file as the body) as the assignment's next revision."""

    permission_classes = [IsAuthenticated]
    parser_classes = [NiftiParser]

    @extend_schema(request={"application/octet-stream": OpenApiTypes.BINARY}, responses=RevisionSerializer)
    def put(self, request: Request, pk: int) -> Response:
        _assignment_or_404(request, pk)
        revision = services.mask_revision_save(assignment_id=pk, user=request.user, content=request.data)
        return Response(RevisionSerializer(_revision_data(revision)).data, status=201)


class AssignmentDoneView(APIView):
    """Mark the annotator's case done: the newest revision becomes their final mask."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=AssignmentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        _assignment_or_404(request, pk)
        assignment = services.annotation_assignment_done(assignment_id=pk, user=request.user)
        fresh = selectors.annotation_assignment_get(user=request.user, assignment_id=assignment.pk)
        return Response(AssignmentSerializer(assignment_data(fresh, user=request.user)).data)


class AssignmentReopenView(APIView):
    """An organizer reopens a done case, saying why: its annotator can change the mask and finish again."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=ReopenSerializer, responses=AssignmentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        _assignment_or_404(request, pk)
        given = ReopenSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        services.annotation_assignment_reopen(
            assignment_id=pk, user=request.user, reason=given.validated_data["reason"]
        )
        fresh = selectors.annotation_assignment_get(user=request.user, assignment_id=pk)
        return Response(AssignmentSerializer(assignment_data(fresh, user=request.user)).data)
