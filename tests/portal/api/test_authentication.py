"""An API request without credentials, or with a token that is not one, is answered 401 and told which scheme
to use (``WWW-Authenticate: Token``), as a script or HTTP library expects, not a bare 403."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.portal.accounts.factories import UserFactory

NO_CREDENTIALS = None
WRONG_TOKEN = "Token 0123456789abcdef0123456789abcdef01234567"

pytestmark = pytest.mark.django_db


def call(method: str, url: str, authorization: str | None) -> object:
    headers = {} if authorization is None else {"authorization": authorization}
    return getattr(Client(), method)(url, headers=headers)


@pytest.mark.parametrize(
    ("method", "url", "authorization", "code"),
    [
        ("get", reverse("api:me"), NO_CREDENTIALS, "not_authenticated"),
        ("get", reverse("api:me"), WRONG_TOKEN, "authentication_failed"),
        ("post", reverse("api:submission-cancel", kwargs={"pk": 1}), NO_CREDENTIALS, "not_authenticated"),
        ("post", reverse("api:submission-cancel", kwargs={"pk": 1}), WRONG_TOKEN, "authentication_failed"),
        ("get", reverse("api:challenge-list"), WRONG_TOKEN, "authentication_failed"),
    ],
)
def test_a_request_that_fails_to_authenticate_gets_401_naming_the_token_scheme(
    method: str, url: str, authorization: str | None, code: str
) -> None:
    response = call(method, url, authorization)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == code


def test_a_logged_in_session_still_works_without_a_token() -> None:
    client = Client()
    client.force_login(UserFactory(username="ada"))

    assert client.get(reverse("api:me")).json()["username"] == "ada"
