"""The root of the portal's own errors: a sentence written for the person who caused it, and a stable code.

Every rule that refuses something raises a ``PortalError`` (or a subclass): its sentence is user-facing, so
pages, the API (``portal.api.errors.exception_handler``), the admin, e-mails and a step's recorded failure
show it as it is, with its ``code`` beside it in the API. It is a Django ``ValidationError``, so forms and the
admin show it without a line of their own. Any other exception is internal: people read ``UNEXPECTED_ERROR``
(or a step's own variant of it) and the traceback goes to the server's log, never to them.
"""

from collections.abc import Callable
from typing import Final

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

UNEXPECTED_ERROR: Final = "An unexpected error occurred; the organizers have been told."


class PortalError(ValidationError):
    """A refusal or failure with a sentence its reader can act on, and a ``code`` saying which rule spoke
    (``invalid`` when none is given). ``http_status`` is what a page or the API answers with it: 400, a
    request the person can change, unless a subclass says otherwise (403: a step they must take first)."""

    http_status = 400

    def __init__(self, sentence: str, *, code: str | None = None) -> None:
        super().__init__(sentence, code=code or "invalid")

    @property
    def sentence(self) -> str:
        return " ".join(self.messages)

    def __str__(self) -> str:
        return self.sentence


class StepFailed(PortalError):
    """A background step ended for a reason its row's owner may read (an archive with problems, a release
    file that cannot be read): the step engine records the sentence as the step's failure and never
    retries it."""


class PortalErrorMiddleware:
    """The pages' one handler of ``PortalError``: a refusal a view did not turn into a message of its own
    becomes a page that says the sentence, with its ``http_status`` (the API's handler gives the same
    sentence with its code, ``portal.api.errors``). Any other exception is left to Django: a 500 whose
    details go to the log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, PortalError) or request.path_info.startswith("/api/"):
            return None
        context = {"sentence": exception.sentence, "code": exception.code}
        return render(request, "error.html", context, status=exception.http_status)
