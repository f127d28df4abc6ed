"""Guessing passwords: after a few failures for one username from one address, the login page and the API's
token endpoint both refuse it for a while and say so; a success clears the count."""

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from portal.accounts.models import User
from tests.portal.accounts.factories import PASSWORD, UserFactory

LIMIT = 3
SENTENCE = (
    "Too many failed attempts to log in as ada from your address: logging in is paused for 15 minutes."
    " Try again after that."
)

pytestmark = pytest.mark.usefixtures("ada")
lockout_on = override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=LIMIT)


@pytest.fixture
def ada(db: None) -> User:
    return UserFactory(username="ada")


def log_in(client: Client, password: str) -> object:
    return client.post(reverse("account_login"), {"login": "ada", "password": password})


def ask_token(client: Client, password: str) -> object:
    return client.post(reverse("api:token"), {"username": "ada", "password": password})


@lockout_on
def test_the_login_page_refuses_a_username_after_failures_from_one_address_and_says_for_how_long() -> None:
    guesser = Client()

    failures = [log_in(guesser, "guess") for _ in range(LIMIT)]
    right_password = log_in(guesser, PASSWORD)
    from_elsewhere = log_in(Client(REMOTE_ADDR="192.0.2.7"), PASSWORD)

    assert [failure.status_code for failure in failures] == [200] * (LIMIT - 1) + [429]
    assert "username and/or password you specified are not correct" in failures[0].content.decode()
    for locked in (failures[-1], right_password):
        assert locked.status_code == 429
        assert locked["Retry-After"] == "900"
        assert SENTENCE in locked.content.decode()
    assert from_elsewhere.status_code == 302


@lockout_on
def test_a_successful_login_clears_the_failures() -> None:
    client = Client()

    before = [log_in(client, "guess").status_code for _ in range(LIMIT - 1)]
    success = log_in(client, PASSWORD)
    client.logout()
    after = [log_in(client, "guess").status_code for _ in range(LIMIT)]

    assert (before, success.status_code) == ([200] * (LIMIT - 1), 302)
    assert after == [200] * (LIMIT - 1) + [429]


@lockout_on
def test_the_token_endpoint_refuses_a_username_after_failures_with_a_sentence_and_retry_after() -> None:
    guesser = Client()

    failures = [ask_token(guesser, "guess") for _ in range(LIMIT)]
    right_password = ask_token(guesser, PASSWORD)

    assert [failure.status_code for failure in failures] == [400] * (LIMIT - 1) + [429]
    for locked in (failures[-1], right_password):
        assert locked["Retry-After"] == "900"
        assert locked.json() == {"code": "locked_out", "detail": SENTENCE}
    assert "token" in ask_token(Client(REMOTE_ADDR="192.0.2.7"), PASSWORD).json()


@lockout_on
def test_a_token_obtained_clears_the_failures_and_the_login_page_counts_with_the_token_endpoint() -> None:
    client = Client()

    cleared = [ask_token(client, "guess").status_code for _ in range(LIMIT - 1)]
    token = ask_token(client, PASSWORD)
    on_the_page = [log_in(client, "guess").status_code for _ in range(LIMIT - 1)]
    on_the_api = ask_token(client, "guess")

    assert (cleared, on_the_page) == ([400] * (LIMIT - 1), [200] * (LIMIT - 1))
    assert "token" in token.json()
    assert on_the_api.status_code == 429
