"""The challenge list and page as each kind of person sees them, and the Join button."""

import pytest
from django.test import Client
from django.urls import reverse

from portal.accounts.models import ChallengeRole
from tests.portal.accounts.factories import ChallengeRoleFactory, UserFactory
from tests.portal.challenges.factories import ChallengeFactory
from tests.portal.conftest import ChallengeWithPeople

ROLES = ["anonymous", "outsider", "reader", "participant", "organizer"]


def client_for(world: ChallengeWithPeople, person: str) -> Client:
    client = Client()
    user = world.people[person]
    if user is not None:
        client.force_login(user)
    return client


def challenge_page(world: ChallengeWithPeople, person: str) -> str:
    response = client_for(world, person).get(reverse("challenge-detail", args=["isles24"]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("person", ROLES)
def test_the_list_shows_public_challenges_and_the_hidden_ones_the_user_is_in(
    world: ChallengeWithPeople, person: str
) -> None:
    hidden = ChallengeFactory(title="Hidden pilot", is_public=False)
    if world.people[person] is not None:
        ChallengeRoleFactory(challenge=hidden, user=world.people[person])
    ChallengeFactory(title="Someone else's pilot", is_public=False)

    page = client_for(world, person).get(reverse("challenge-list")).content.decode()

    assert "ISLES 2024" in page
    assert ("Hidden pilot" in page) == (person != "anonymous")
    assert "Someone else&#x27;s pilot" not in page


@pytest.mark.parametrize(
    ("person", "shown"),
    [
        ("anonymous", "Log in</a> to take part"),
        ("outsider", "Join this challenge"),
        ("reader", "Expert reader"),
        ("participant", "Participant"),
        ("organizer", "Organizer"),
    ],
)
def test_the_challenge_page_shows_the_role_or_how_to_take_part(
    world: ChallengeWithPeople, person: str, shown: str
) -> None:
    page = challenge_page(world, person)

    assert shown in page
    assert ("Join this challenge" in page) == (person == "outsider")
    assert ("Organize this challenge" in page) == (person == "organizer")


def test_the_challenge_page_lists_phases_with_kind_state_and_case_links(world: ChallengeWithPeople) -> None:
    page = challenge_page(world, "participant")

    title = page[page.index("<title>") : page.index("</title>")]
    assert title == f"<title>{world.challenge.title} · isles-portal"

    assert "Final" in page
    assert "Algorithm container" in page
    assert "Open" in page
    assert reverse("case-list", args=["isles24", "release", "train"]) in page
    assert reverse("case-list", args=["isles24", "release", "test"]) in page
    assert reverse("leaderboard-detail", args=["final"]) in page
    assert reverse("readerstudy-create", args=["isles24"]) not in page
    assert reverse("readerstudy-create", args=["isles24"]) in challenge_page(world, "organizer")


@pytest.mark.parametrize(("person", "status"), [("anonymous", 404), ("outsider", 404), ("reader", 200)])
def test_a_hidden_challenge_page_is_not_found_for_people_outside_it(
    world: ChallengeWithPeople, person: str, status: int
) -> None:
    world.challenge.is_public = False
    world.challenge.save()

    response = client_for(world, person).get(reverse("challenge-detail", args=["isles24"]))

    assert response.status_code == status


def test_joining_shows_the_participant_role_and_a_second_join_changes_nothing(
    world: ChallengeWithPeople,
) -> None:
    client = client_for(world, "outsider")
    url = reverse("challenge-join", args=["isles24"])

    client.post(url)
    page = client.post(url, follow=True).content.decode()

    assert "Your role:" in page
    assert "Participant" in page
    assert ChallengeRole.objects.filter(user=world.people["outsider"]).count() == 1


def test_an_organizer_who_joins_is_told_why_not(world: ChallengeWithPeople) -> None:
    response = client_for(world, "organizer").post(reverse("challenge-join", args=["isles24"]), follow=True)

    assert "Organizers and expert readers of a challenge see its hidden data" in response.content.decode()


def test_joining_needs_a_login_and_a_post(world: ChallengeWithPeople) -> None:
    url = reverse("challenge-join", args=["isles24"])

    assert Client().post(url)["Location"].startswith(reverse("account_login"))
    assert client_for(world, "outsider").get(url).status_code == 405


def test_the_challenge_list_takes_a_fixed_number_of_queries(
    world: ChallengeWithPeople, django_assert_num_queries
) -> None:
    ChallengeFactory.create_batch(5)
    client = client_for(world, "participant")

    # session, user, challenges, and the user's own and their groups' permissions (the Create link)
    with django_assert_num_queries(5):
        response = client.get(reverse("challenge-list"))

    assert response.content.decode().count("<article") == 6


@pytest.mark.parametrize(
    "url",
    [
        "admin:challenges_challenge_change",
        "admin:accounts_challengerole_changelist",
        "admin:accounts_team_add",
        "admin:accounts_user_changelist",
    ],
)
def test_the_admin_pages_of_challenges_roles_and_teams_load(world: ChallengeWithPeople, url: str) -> None:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    args = [world.challenge.pk] if url.endswith("_change") else []

    response = client.get(reverse(url, args=args))

    assert response.status_code == 200
