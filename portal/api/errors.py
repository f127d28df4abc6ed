"""One mapping from domain errors to API responses: each a JSON object with a stable ``code`` and a
``detail`` sentence (field errors keep their per-field lists beside them)."""

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class RequestBodyTooLarge(APIException):
    """A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``: DRF reads JSON and form bodies through Django, which
    raises ``RequestDataTooBig`` past it, as its multipart parser does for fields other than files."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(
            f"The request body is over {limit} bytes, the most the API reads besides uploaded files."
        )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turn Django's ``ValidationError`` into a 400 with its messages and its code (``invalid`` when it has
    none), a body over Django's bounds into a 413 and other malformed requests into a 400; give every
    DRF error its ``code`` and a ``detail`` sentence."""
    if isinstance(exc, ValidationError):
        code = next((error.code for error in getattr(exc, "error_list", ()) if error.code), "invalid")
        answer = getattr(exc, "http_status", status.HTTP_400_BAD_REQUEST)  # a PortalError may say another
        return Response({"code": code, "detail": " ".join(exc.messages)}, status=answer)
    if isinstance(exc, PermissionDenied):
        return Response(
            {"code": "permission_denied", "detail": str(exc) or "You may not do this."}, status=403
        )
    if isinstance(exc, Http404):
        exc = NotFound()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestBodyTooLarge()
    elif isinstance(exc, SuspiciousOperation):  # too many form fields or files, a broken multipart body
        exc = ParseError(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, APIException):
        response.data = _with_code_and_detail(response.data, exc)
    return response


def _with_code_and_detail(data: Any, exc: APIException) -> dict[str, Any]:
    if not isinstance(data, dict):  # a ValidationError raised with a list of messages
        data = {"detail": _sentence(data)}
    elif "detail" not in data:  # a serializer's errors, by field
        data = {**data, "detail": _sentence(data)}
    data.setdefault("code", _first_code(exc.get_codes()))
    return data


def _first_code(codes: Any) -> str:
    if isinstance(codes, list) and codes:
        return _first_code(codes[0])
    return codes if isinstance(codes, str) else "invalid"


def _sentence(errors: Any, field: str = "") -> str:
    """Every message of a serializer's errors in one line, each after the field it concerns."""
    if isinstance(errors, dict):
        return " ".join(
            _sentence(value, key if key == "non_field_errors" or not field else f"{field}.{key}")
            for key, value in errors.items()
        )
    if isinstance(errors, list):
        return " ".join(_sentence(value, field) for value in errors)
    if field in ("", "non_field_errors"):
        return str(errors)
    return f"{field}: {errors}"


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 handler: under /api/ a JSON error as the API's own, the site's page elsewhere."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
