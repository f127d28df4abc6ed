"""API of reader studies: a reader's next item and answers, an organizer's results and CSV export.

A reader's JSON holds no id, name or label of a source: the item and each of its two masks are named by
random tokens, and both masks carry the same neutral file name.
"""

import dataclasses
import math

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.datasets.serializers import ViewerImageSerializer
from portal.datasets.views import viewer_image_of
from portal.readerstudies import selectors, services
from portal.readerstudies.models import ReaderStudy, ReadingItem, StudyReader
from portal.readerstudies.views import EXCLUDE_FAST, answers_csv_response, exclude_fast_requested


class FileSerializer(serializers.Serializer):
    url = serializers.CharField()
    name = serializers.CharField(help_text="A neutral file name with its extension, for the viewer.")


class BackgroundSerializer(ViewerImageSerializer):
    interface = serializers.CharField()
    sha256 = serializers.CharField(
        help_text="The image file's SHA-256: items of one case show the same images, which the page keeps."
    )


class MasksSerializer(serializers.Serializer):
    A = FileSerializer()
    B = FileSerializer()


class FollowingItemSerializer(serializers.Serializer):
    images = BackgroundSerializer(many=True)
    masks = MasksSerializer()


class NextItemSerializer(serializers.Serializer):
    done = serializers.BooleanField()
    answered = serializers.IntegerField()
    total = serializers.IntegerField()
    position = serializers.IntegerField(required=False)
    item = serializers.CharField(required=False, help_text="The item's opaque token.")
    images = BackgroundSerializer(many=True, required=False)
    masks = MasksSerializer(required=False)
    answer_url = serializers.CharField(required=False)
    drawn_url = serializers.CharField(
        required=False, help_text="POST here once both panes are drawn: the item's reading time starts then."
    )
    asks_quality_rating = serializers.BooleanField()
    asks_comment = serializers.BooleanField()
    following = FollowingItemSerializer(
        required=False,
        help_text=(
            "The files of the item that comes after this one (absent after the last), for the page to "
            "download while the reader reads this one. Its reading time starts only when it is drawn."
        ),
    )


class AnswerSerializer(serializers.Serializer):
    preference = serializers.ChoiceField(choices=ReadingItem.Preference.choices)
    rating_a = serializers.IntegerField(required=False, allow_null=True)
    rating_b = serializers.IntegerField(required=False, allow_null=True)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class AnswerResultSerializer(serializers.Serializer):
    done = serializers.BooleanField()
    answered = serializers.IntegerField()
    total = serializers.IntegerField()


def _reader_or_404(request: Request, pk: int) -> StudyReader:
    try:
        return selectors.study_reader_get(user=request.user, study_id=pk)
    except StudyReader.DoesNotExist as error:
        raise Http404("No such study.") from error


def _item_files(item: ReadingItem, study: ReaderStudy) -> dict[str, object]:
    """An item's background images and its two masks, by opaque URLs."""
    images = selectors.reading_backgrounds(item=item, interfaces=study.background_interfaces)
    return {
        "images": [
            {
                **dataclasses.asdict(
                    viewer_image_of(
                        interface=image.interface,
                        url=reverse("readerstudy-background", kwargs={"token": item.token, "index": index}),
                        name="image.nii.gz",
                    )
                ),
                "interface": image.interface,
                "sha256": image.sha256,
            }
            for index, image in enumerate(images)
        ],
        "masks": {
            side: {"url": reverse("readerstudy-mask", kwargs={"token": token}), "name": "mask.nii.gz"}
            for side, token in (("A", item.token_a), ("B", item.token_b))
        },
    }


def _next_item_data(reader: StudyReader, item: ReadingItem | None) -> dict[str, object]:
    answered, total = selectors.study_reader_progress(reader=reader)
    study = reader.study
    data: dict[str, object] = {
        "done": item is None,
        "answered": answered,
        "total": total,
        "asks_quality_rating": study.asks_quality_rating,
        "asks_comment": study.asks_comment,
    }
    if item is None:
        return data
    data.update(
        position=item.position,
        item=item.token,
        **_item_files(item, study),
        answer_url=reverse("api:readerstudy-answer", kwargs={"pk": study.pk, "token": item.token}),
        drawn_url=reverse("api:readerstudy-drawn", kwargs={"pk": study.pk, "token": item.token}),
    )
    following = selectors.reading_item_following(item=item)
    if following is not None:
        data["following"] = _item_files(following, study)
    return data


class NextItemView(APIView):
    """The reader's first unanswered item (its files by opaque URLs) and their progress."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=NextItemSerializer)
    def get(self, request: Request, pk: int) -> Response:
        reader = _reader_or_404(request, pk)
        item = services.reading_item_next(reader=reader)
        return Response(NextItemSerializer(_next_item_data(reader, item)).data)


class DrawnView(APIView):
    """The reader's page has drawn both panes of the item: its reading time starts now (the first report
    counts; one after the answer changes nothing)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, pk: int, token: str) -> Response:
        reader = _reader_or_404(request, pk)
        try:
            services.reading_item_drawn(reader=reader, item_token=token)
        except ReadingItem.DoesNotExist as error:
            raise Http404("No such item.") from error
        return Response(status=204)


class AnswerView(APIView):
    """Record the reader's one answer to an item: A, B or NONE, and optional ratings and comment."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=AnswerSerializer, responses=AnswerResultSerializer)
    def post(self, request: Request, pk: int, token: str) -> Response:
        reader = _reader_or_404(request, pk)
        answer = AnswerSerializer(data=request.data)
        answer.is_valid(raise_exception=True)
        try:
            services.reading_item_answer(user=request.user, item_token=token, **answer.validated_data)
        except ObjectDoesNotExist as error:
            raise Http404("No such item.") from error
        answered, total = selectors.study_reader_progress(reader=reader)
        return Response({"done": answered == total, "answered": answered, "total": total})


def _finite(value: object) -> object:
    """JSON has no NaN: an undefined statistic is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


READER_REFUSED = OpenApiResponse(description="A reader of the study: only its organizers read its results.")


def _study_or_404(request: Request, pk: int) -> ReaderStudy:
    try:
        return selectors.reader_study_get_for_organizer(user=request.user, study_id=pk)
    except ReaderStudy.DoesNotExist as error:
        raise Http404("No such study.") from error


class ResultsView(APIView):
    """The study's statistics (organizers only): preference rates of the real items, per reader, Fleiss'
    kappa, ratings, the time per item per reader (median, quartiles, mean), the catch trials (guessing
    rate on same-mask items, intra-reader Cohen's kappa on repeated comparisons) and the answers faster
    than the study's minimum reading time; ``?exclude_fast=1`` leaves those out."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                EXCLUDE_FAST, bool, description="Compute the statistics without the implausibly fast answers."
            )
        ],
        responses={200: OpenApiTypes.OBJECT, 403: READER_REFUSED},
    )
    def get(self, request: Request, pk: int) -> Response:
        results = selectors.reader_study_results(
            study=_study_or_404(request, pk), exclude_fast=exclude_fast_requested(request.query_params)
        )
        return Response(_finite(dataclasses.asdict(results)))


class AnswersCsvView(APIView):
    """Every answer with the unblinded sources, as CSV (organizers only)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR, 403: READER_REFUSED})
    def get(self, request: Request, pk: int) -> HttpResponse:
        return answers_csv_response(_study_or_404(request, pk))
