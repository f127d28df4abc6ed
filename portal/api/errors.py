"""One mapping from domain errors to API responses, each with a stable ``code``."""

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turn Django's ``ValidationError`` into a 400 with its messages and its code (``invalid`` when it has
    none); give DRF's errors their ``code``."""
    if isinstance(exc, ValidationError):
        code = next((error.code for error in getattr(exc, "error_list", ()) if error.code), "invalid")
        return Response({"code": code, "detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, PermissionDenied):
        return Response(
            {"code": "permission_denied", "detail": str(exc) or "You may not do this."}, status=403
        )
    if isinstance(exc, Http404):
        exc = NotFound()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, APIException) and isinstance(response.data, dict):
        codes = exc.get_codes()
        response.data.setdefault("code", codes if isinstance(codes, str) else "invalid")
    return response
