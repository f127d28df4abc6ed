"""The people page of a challenge: its organizers add and remove co-organizers and expert readers by
username or e-mail address, nobody who takes part crosses to the inside, and the last organizer stays."""

import pytest
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole, User
from portal.accounts.selectors import user_is_organizer, user_roles
from tests.portal.accounts.factories import UserFactory
from tests.portal.conftest import ChallengeWithPeople

pytestmark = pytest.mark.django_db
Role = ChallengeRole.Role


def organizer_client(world: ChallengeWithPeople) -> Client:
    client = Client()
    organizer = world.people["organizer"]
    assert organizer is not None
    client.force_login(organizer)
    return client


def people_url() -> str:
    return reverse("organizer-people", args=["isles24"])


def role_of(world: ChallengeWithPeople, username: str, role: str) -> ChallengeRole:
    return ChallengeRole.objects.get(challenge=world.challenge, user__username=username, role=role)


def test_the_organizer_adds_a_reader_by_email_and_a_co_organizer_by_username(
    world: ChallengeWithPeople,
) -> None:
    client = organizer_client(world)
    radiologist = UserFactory(username="radiologist", email="Dr.Rad@Hospital.example")
    colleague = UserFactory(username="colleague")

    first = client.post(
        people_url(), {"username_or_email": "dr.rad@hospital.example", "role": "READER"}, follow=True
    )
    second = client.post(people_url(), {"username_or_email": "Colleague", "role": "ORGANIZER"}, follow=True)

    assert "radiologist is now expert reader of ISLES 2024." in first.content.decode()
    page = second.content.decode()
    assert "colleague is now organizer of ISLES 2024." in page
    table = page[page.index('<table id="people">') : page.index("</table>")]
    assert "radiologist" in table
    assert "colleague" in table
    assert user_roles(user=radiologist, challenge=world.challenge) == {Role.READER}
    assert user_is_organizer(user=colleague, challenge=world.challenge)
    assert Client().get(people_url()).status_code == 302  # anonymous: to the login page


def test_a_participant_is_not_made_an_organizer_and_the_page_says_why(world: ChallengeWithPeople) -> None:
    client = organizer_client(world)

    page = client.post(
        people_url(), {"username_or_email": "participant", "role": "ORGANIZER"}
    ).content.decode()

    assert "participant takes part in ISLES 2024, so they cannot be one of its organizers" in page
    participant = world.people["participant"]
    assert participant is not None
    assert not user_is_organizer(user=participant, challenge=world.challenge)


def test_an_unknown_name_is_refused_with_a_sentence(world: ChallengeWithPeople) -> None:
    page = (
        organizer_client(world)
        .post(people_url(), {"username_or_email": "nobody@example.org", "role": "READER"})
        .content.decode()
    )

    assert "Nobody has the username or e-mail address &#x27;nobody@example.org&#x27;" in page


def test_the_organizer_removes_a_reader(world: ChallengeWithPeople) -> None:
    client = organizer_client(world)
    reader = role_of(world, "reader", Role.READER)

    page = client.post(
        reverse("organizer-person-remove", args=["isles24", reader.pk]), follow=True
    ).content.decode()

    assert "reader is no longer expert reader of ISLES 2024." in page
    assert not ChallengeRole.objects.filter(pk=reader.pk).exists()


def test_the_last_organizer_cannot_leave_until_another_is_added(world: ChallengeWithPeople) -> None:
    client = organizer_client(world)
    own = role_of(world, "organizer", Role.ORGANIZER)
    remove = reverse("organizer-person-remove", args=["isles24", own.pk])

    refused = client.post(remove, follow=True).content.decode()
    assert "You are the last organizer of ISLES 2024: add another organizer first" in refused
    assert ChallengeRole.objects.filter(pk=own.pk).exists()

    UserFactory(username="colleague")
    client.post(people_url(), {"username_or_email": "colleague", "role": "ORGANIZER"})
    left = client.post(remove, follow=True)

    assert left.redirect_chain[-1][0] == reverse("challenge-detail", args=["isles24"])
    assert "organizer is no longer organizer of ISLES 2024." in left.content.decode()
    assert client.get(people_url()).status_code == 403
    assert [user.username for user in User.objects.filter(challenge_roles__role=Role.ORGANIZER)] == [
        "colleague"
    ]


def test_a_participant_role_is_not_removed_from_the_people_page(world: ChallengeWithPeople) -> None:
    participant = role_of(world, "participant", Role.PARTICIPANT)

    response = organizer_client(world).post(
        reverse("organizer-person-remove", args=["isles24", participant.pk])
    )

    assert response.status_code == 404
    assert ChallengeRole.objects.filter(pk=participant.pk).exists()
