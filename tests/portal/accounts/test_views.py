"""Registering, logging in and out, and the account page with its API token."""

from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from portal.accounts.models import User
from tests.portal.accounts.factories import PASSWORD, UserFactory


def register(client: Client, **fields: str) -> object:
    data = {
        "username": "ada",
        "email": "ada@example.org",
        "password": "perfusion-tmax-6s",
        "password_again": "perfusion-tmax-6s",
    }
    return client.post(reverse("register"), {**data, **fields})


def test_registering_creates_the_account_and_logs_it_in(db: None) -> None:
    client = Client()

    response = register(client)

    assert response.status_code == 302
    assert response["Location"] == reverse("challenge-list")
    assert client.get(reverse("account")).context["user"].username == "ada"


def test_registering_with_two_different_passwords_says_so(db: None) -> None:
    response = register(Client(), password_again="something-else-9")

    assert "The two passwords differ." in response.content.decode()
    assert not User.objects.exists()


def test_registering_with_a_taken_email_says_so(db: None) -> None:
    UserFactory(email="ada@example.org")

    response = register(Client())

    assert "with this email address already exists" in response.content.decode().lower()


def test_login_and_logout_by_post(db: None) -> None:
    UserFactory(username="ada")
    client = Client()

    login = client.post(reverse("login"), {"username": "ada", "password": PASSWORD})
    logout = client.post(reverse("logout"))

    assert login["Location"] == reverse("challenge-list")
    assert logout.status_code == 302
    assert client.get(reverse("account"))["Location"].startswith(reverse("login"))


def test_login_with_a_wrong_password_is_refused(db: None) -> None:
    UserFactory(username="ada")

    response = Client().post(reverse("login"), {"username": "ada", "password": "guess"})

    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_logout_by_get_is_not_allowed(db: None) -> None:
    client = Client()
    client.force_login(UserFactory())

    assert client.get(reverse("logout")).status_code == 405


def test_account_page_shows_the_api_token_and_regenerating_replaces_it(db: None) -> None:
    user = UserFactory()
    client = Client()
    client.force_login(user)

    first_page = client.get(reverse("account")).content.decode()
    old_key = Token.objects.get(user=user).key
    client.post(reverse("token-regenerate"))
    second_page = client.get(reverse("account")).content.decode()

    assert old_key in first_page
    assert old_key not in second_page
    assert Token.objects.get(user=user).key in second_page


def test_token_cannot_be_regenerated_by_get(db: None) -> None:
    client = Client()
    client.force_login(UserFactory())

    assert client.get(reverse("token-regenerate")).status_code == 405
