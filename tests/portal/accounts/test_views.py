"""Signing up and confirming the e-mail address, logging in and out, resetting and changing a password
(django-allauth's pages in the portal's frame), and the account page with its API token."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from portal.accounts.models import User
from tests.portal.accounts.factories import PASSWORD, UserFactory

NEW_PASSWORD = "perfusion-tmax-6s"


def sign_up(client: Client, **fields: str) -> object:
    data = {
        "username": "ada",
        "email": "ada@example.org",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    }
    return client.post(reverse("account_signup"), {**data, **fields})


def link_in_last_mail() -> str:
    found = re.search(r"https?://testserver(/accounts/\S+/)", mail.outbox[-1].body)
    assert found is not None, mail.outbox[-1].body
    return found.group(1)


def test_signing_up_logs_in_and_mails_a_link_that_confirms_the_address_on_its_page(db: None) -> None:
    client = Client()

    response = sign_up(client)

    assert response.status_code == 302
    assert client.get(reverse("account")).context["user"].username == "ada"
    assert "not confirmed" in client.get(reverse("account")).content.decode()
    assert mail.outbox[-1].to == ["ada@example.org"]
    assert mail.outbox[-1].subject.startswith("[isles-portal] ")
    link = link_in_last_mail()
    # A mail scanner that only follows the link confirms nothing: the page asks for a click.
    assert "Confirm" in client.get(link).content.decode()
    assert "not confirmed" in client.get(reverse("account")).content.decode()

    client.post(link)

    assert ">confirmed<" in client.get(reverse("account")).content.decode()


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"password2": "something-else-9"}, "You must type the same password each time."),
        ({"email": "taken@example.org"}, "A user is already registered with this email address."),
        ({"username": "taken"}, "A user with that username already exists."),
        ({"password1": "1234", "password2": "1234"}, "This password is too short."),
        ({"email": "not an email"}, "Enter a valid email address."),
    ],
)
def test_signing_up_with_a_bad_field_says_what_is_wrong_and_creates_nobody(
    db: None, fields: dict[str, str], sentence: str
) -> None:
    UserFactory(username="taken", email="taken@example.org")

    response = sign_up(Client(), **fields)

    assert response.status_code == 200
    assert sentence in response.content.decode().replace("&#x27;", "'")
    assert not User.objects.filter(username="ada").exists()


def test_login_and_logout_by_post(db: None) -> None:
    UserFactory(username="ada")
    client = Client()

    login = client.post(reverse("account_login"), {"login": "ada", "password": PASSWORD})
    logout = client.post(reverse("account_logout"))

    assert login["Location"] == reverse("challenge-list")
    assert logout.status_code == 302
    assert client.get(reverse("account"))["Location"].startswith(reverse("account_login"))


def test_login_with_a_wrong_password_is_refused(db: None) -> None:
    UserFactory(username="ada")

    response = Client().post(reverse("account_login"), {"login": "ada", "password": "guess"})

    assert response.status_code == 200
    assert "username and/or password you specified are not correct" in response.content.decode()


def test_logout_by_get_asks_and_keeps_the_session(db: None) -> None:
    client = Client()
    client.force_login(UserFactory())

    page = client.get(reverse("account_logout"))

    assert page.status_code == 200
    assert client.get(reverse("account")).status_code == 200


def test_a_forgotten_password_is_reset_through_the_link_mailed_to_the_address(db: None) -> None:
    UserFactory(username="ada", email="ada@example.org")
    client = Client()

    client.post(reverse("account_reset_password"), {"email": "ada@example.org"})
    form_page = client.get(link_in_last_mail(), follow=True)
    client.post(form_page.redirect_chain[-1][0], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    old = Client().post(reverse("account_login"), {"login": "ada", "password": PASSWORD})
    new = Client().post(reverse("account_login"), {"login": "ada", "password": NEW_PASSWORD})
    assert old.status_code == 200
    assert new.status_code == 302


def test_a_password_reset_for_an_unknown_address_tells_nothing_about_who_has_an_account(db: None) -> None:
    UserFactory(email="ada@example.org")
    known = Client().post(reverse("account_reset_password"), {"email": "ada@example.org"})
    unknown = Client().post(reverse("account_reset_password"), {"email": "nobody@example.org"})

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]


def test_a_logged_in_user_changes_the_password_knowing_the_old_one(db: None) -> None:
    user = UserFactory(username="ada")
    client = Client()
    client.force_login(user)

    wrong = client.post(
        reverse("account_change_password"),
        {"oldpassword": "guess", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    right = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert "Please type your current password." in wrong.content.decode()
    assert right.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


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
