"""The organizer's dashboard of a challenge: a link to every page an organizer runs it from, and the
challenge page's way there, shown to its organizers only."""

import pytest
from django.test import Client
from django.urls import reverse

from portal.challenges.models import Phase
from tests.portal.challenges.factories import PhaseFactory
from tests.portal.conftest import ChallengeWithPeople

pytestmark = pytest.mark.django_db


def test_the_dashboard_links_the_challenge_people_phases_data_and_studies(world: ChallengeWithPeople) -> None:
    client = Client()
    organizer = world.people["organizer"]
    assert organizer is not None
    client.force_login(organizer)

    page = client.get(reverse("organizer-dashboard", args=["isles24"])).content.decode()

    for url in (
        reverse("organizer-challenge-edit", args=["isles24"]),
        reverse("organizer-people", args=["isles24"]),
        reverse("organizer-phase-create", args=["isles24"]),
        reverse("organizer-phase-edit", args=["isles24", "final"]),
        reverse("organizer-dataset-import", args=["isles24"]),
        reverse("phase-submissions", args=["final"]),
        reverse("leaderboard-detail", args=["final"]),
        reverse("data-card", args=["isles24"]),
        reverse("case-list", args=["isles24", "release", "test"]),
        reverse("readerstudy-create", args=["isles24"]),
        reverse("annotation-campaign-create", args=["isles24"]),
    ):
        assert f'href="{url}"' in page, url
    assert "1 organizer, 1 expert reader, 1 participant" in page


@pytest.mark.parametrize("person", ["anonymous", "outsider", "reader", "participant", "organizer"])
def test_the_challenge_page_links_the_dashboard_for_organizers_only(
    world: ChallengeWithPeople, person: str
) -> None:
    client = Client()
    user = world.people[person]
    if user is not None:
        client.force_login(user)

    page = client.get(reverse("challenge-detail", args=["isles24"])).content.decode()

    dashboard = reverse("organizer-dashboard", args=["isles24"])
    assert (f'href="{dashboard}"' in page) == (person == "organizer")


def test_the_dashboard_links_a_validation_phases_reruns(world: ChallengeWithPeople) -> None:
    PhaseFactory(
        challenge=world.challenge,
        dataset=world.dataset,
        slug="second-centre",
        submission_kind=Phase.SubmissionKind.ALGORITHM,
        is_validation=True,
    )
    client = Client()
    organizer = world.people["organizer"]
    assert organizer is not None
    client.force_login(organizer)

    page = client.get(reverse("organizer-dashboard", args=["isles24"])).content.decode()

    assert f'href="{reverse("validation-reruns", args=["second-centre"])}"' in page
    assert reverse("validation-reruns", args=["final"]) not in page
