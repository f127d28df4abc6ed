"""The one error root: a PortalError's sentence reaches a page as it is, and the API with its code; any
other exception is left to Django (a 500 whose details go to the log, never to the person). The API's
side, ``{"code", "detail"}`` from ``portal.api.errors``, is tested with the API."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from portal.errors import PortalError, PortalErrorMiddleware, StepFailed
from portal.submissions.exceptions import SubmissionRefused


def _unreachable(request: object) -> None:
    raise AssertionError("the middleware's own response is not asked for here")


def test_a_portal_error_a_page_did_not_handle_becomes_a_page_with_its_sentence(db: None) -> None:
    middleware = PortalErrorMiddleware(_unreachable)
    request = RequestFactory().get("/challenges/isles24/")
    request.user = AnonymousUser()

    response = middleware.process_exception(
        request, SubmissionRefused("This phase does not take submissions now.", code="phase_closed")
    )

    assert response is not None
    assert response.status_code == 400
    assert "This phase does not take submissions now." in response.content.decode()
    assert 'data-code="phase_closed"' in response.content.decode()


@pytest.mark.parametrize(
    ("path", "exception"),
    [("/api/phases/x/submissions/", PortalError("Refused.")), ("/challenges/", ValueError("a bug"))],
    ids=["api-answers-with-its-own-handler", "an-internal-error-is-left-to-django"],
)
def test_the_page_handler_leaves_the_api_and_internal_errors_alone(path: str, exception: Exception) -> None:
    middleware = PortalErrorMiddleware(_unreachable)

    assert middleware.process_exception(RequestFactory().get(path), exception) is None


def test_a_portal_errors_text_is_its_sentence_and_its_code_defaults_to_invalid() -> None:
    failed = StepFailed("The release has no participants.tsv.")

    assert str(failed) == failed.sentence == "The release has no participants.tsv."
    assert failed.code == "invalid"
    assert isinstance(failed, PortalError)
