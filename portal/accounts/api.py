"""The accounts API: a user's token for their username and password, throttled and locked out as the
login page is."""

from typing import Any

from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from portal.accounts.lockout import login_cooloff_seconds, login_lockout_sentence
from portal.accounts.services import token_get_or_create


class LoginLockedOut(APIException):
    """Too many failed logins for this username from this address; ``wait`` becomes ``Retry-After``."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self, *, username: str) -> None:
        super().__init__(detail=login_lockout_sentence(username=username))
        self.wait = login_cooloff_seconds()


class AuthTokenView(ObtainAuthToken):
    """POST a username and password, get the user's API token.

    Besides the API's own rates, this endpoint has a lower one per address. A username that failed too
    often from the same address, here or on the login page, is refused for a while: 429, with a sentence
    saying for how long and Retry-After. A success counts as a login: it clears the failures.
    """

    throttle_classes = [*api_settings.DEFAULT_THROTTLE_CLASSES, ScopedRateThrottle]
    throttle_scope = "auth-token"

    @extend_schema(
        responses={
            200: OpenApiResponse(description='The user\'s token: {"token": "..."}.'),
            400: OpenApiResponse(description="The username or password is wrong."),
            429: OpenApiResponse(description="Too many attempts; Retry-After says when to try again."),
        }
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except ValidationError:
            # django-axes flags the request it was given, which here is DRF's and not Django's, so its
            # middleware never sees the flag: the lockout is answered here.
            if getattr(request, "axes_locked_out", False):
                raise LoginLockedOut(username=str(request.data.get("username", ""))) from None
            raise
        user = serializer.validated_data["user"]
        user_logged_in.send(sender=type(user), request=request, user=user)
        return Response({"token": token_get_or_create(user=user).key})
