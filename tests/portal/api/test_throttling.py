"""The API's throttles: past its rate, a client is answered 429 with Retry-After, by address when anonymous,
by user when logged in, and the token endpoint has a lower rate of its own."""

from collections.abc import Iterator, Mapping

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from tests.portal.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
GENEROUS = "1000/minute"


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mapping[str, str]]:
    """Low rates for these tests (DRF's throttles read their rates once, at import), counted from zero."""
    rates = {"anon": GENEROUS, "user": GENEROUS, "auth-token": GENEROUS}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    cache.clear()
    yield rates
    cache.clear()


def test_an_anonymous_client_past_its_rate_gets_429_with_retry_after(rates: dict[str, str]) -> None:
    rates["anon"] = "2/minute"
    client, other_address = Client(), Client(REMOTE_ADDR="192.0.2.7")

    statuses = [client.get(reverse("api:challenge-list")).status_code for _ in range(3)]
    throttled = client.get(reverse("api:challenge-list"))

    assert statuses == [200, 200, 429]
    assert throttled.json()["code"] == "throttled"
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert other_address.get(reverse("api:challenge-list")).status_code == 200


def test_a_client_cannot_escape_its_count_by_naming_another_address(rates: dict[str, str]) -> None:
    rates["anon"] = "1/minute"
    client = Client()

    first = client.get(reverse("api:challenge-list"), headers={"x-forwarded-for": "198.51.100.1"})
    second = client.get(reverse("api:challenge-list"), headers={"x-forwarded-for": "198.51.100.2"})

    assert (first.status_code, second.status_code) == (200, 429)


def test_a_user_past_their_rate_gets_429(rates: dict[str, str]) -> None:
    rates["user"] = "2/minute"
    client = Client()
    client.force_login(UserFactory(username="ada"))

    statuses = [client.get(reverse("api:me")).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_the_token_endpoint_has_its_own_lower_rate(rates: dict[str, str]) -> None:
    rates["auth-token"] = "2/minute"
    UserFactory(username="ada")
    client = Client()

    statuses = [
        client.post(reverse("api:token"), {"username": "ada", "password": PASSWORD}).status_code
        for _ in range(3)
    ]

    assert statuses == [200, 200, 429]
    assert client.get(reverse("api:challenge-list")).status_code == 200
