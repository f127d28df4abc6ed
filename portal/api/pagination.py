"""Pages of API lists: ``limit`` and ``offset`` are checked like any other query parameter.

DRF's ``LimitOffsetPagination`` ignores a value it cannot read (``?limit=1e20`` gave the default page)
and takes any size it can (a ``limit`` past the database's integer range was a 500). Here a value out of
range or not a whole number is a 400 with a sentence, and the schema states the ranges.
"""

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.views import APIView

from portal.converters import BIGINT_MAX

MAX_LIMIT = 1000
"""The most rows one page holds."""


class PageQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=MAX_LIMIT, required=False, help_text="Number of results to return per page."
    )
    offset = serializers.IntegerField(
        min_value=0,
        max_value=BIGINT_MAX,
        required=False,
        help_text="The initial index from which to return the results.",
    )


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        query = PageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        self._page = query.validated_data
        return super().paginate_queryset(queryset, request, view)

    def get_limit(self, request: Request) -> int:
        return self._page.get("limit", self.default_limit)

    def get_offset(self, request: Request) -> int:
        return self._page.get("offset", 0)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        bounds = {
            "limit": {"minimum": 1, "maximum": MAX_LIMIT},
            "offset": {"minimum": 0, "maximum": BIGINT_MAX},
        }
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"] |= bounds[parameter["name"]]
        return parameters
