"""The participants page of a challenge: its organizers see who takes part, with their team, when they
joined, when they accepted the data-use terms (and whether they consent to re-runs) and whether their
e-mail address is confirmed, and export the same as a CSV file safe to open in a spreadsheet."""

import csv
import io
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.accounts.models import ChallengeRole
from portal.datasets.models import DataCard
from portal.datasets.services import data_terms_accept
from tests.portal.accounts.factories import (
    ChallengeRoleFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)
from tests.portal.challenges.factories import ChallengeFactory
from tests.portal.conftest import ChallengeWithPeople

pytestmark = pytest.mark.django_db


def logged_in(world: ChallengeWithPeople, person: str) -> Client:
    client = Client()
    user = world.people[person]
    assert user is not None
    client.force_login(user)
    return client


def a_team_and_a_newcomer(world: ChallengeWithPeople) -> None:
    """``participant`` accepts the terms without consenting to re-runs; ``=cmd`` (a formula's name) joins
    a team and accepts consenting; ``newcomer`` has accepted nothing and not confirmed their address."""
    DataCard.objects.create(challenge=world.challenge, licence="CC BY-NC 4.0", terms="For research only.")
    participant = world.people["participant"]
    assert participant is not None
    data_terms_accept(user=participant, challenge=world.challenge, consents_to_reruns=False)
    formula = ChallengeRoleFactory(challenge=world.challenge, user__username="=cmd").user
    TeamMembershipFactory(team=TeamFactory(challenge=world.challenge, name="Stroke Lab"), user=formula)
    data_terms_accept(user=formula, challenge=world.challenge, consents_to_reruns=True)
    ChallengeRoleFactory(
        challenge=world.challenge,
        user=UserFactory(username="newcomer", email_verified=False),
    )


def test_the_organizer_sees_every_participant_with_team_terms_and_confirmation(
    world: ChallengeWithPeople,
) -> None:
    a_team_and_a_newcomer(world)

    organizer = logged_in(world, "organizer")
    dashboard = organizer.get(reverse("organizer-dashboard", args=["isles24"])).content.decode()
    link = reverse("organizer-participants", args=["isles24"])
    assert f'href="{link}"' in dashboard
    page = organizer.get(link).content.decode()

    table = page[page.index('<table id="participants">') : page.index("</table>")]
    rows = {row.split("</td>")[0].split("<td>")[-1]: row for row in table.split("<tr>")[2:]}
    assert set(rows) == {"participant", "=cmd", "newcomer"}  # no organizer, reader or outsider
    assert "Stroke Lab" in rows["=cmd"]
    assert "Consents" in rows["=cmd"]
    assert "Does not consent" in rows["participant"]
    assert "(version 1)" in rows["participant"]
    assert "Not accepted" in rows["newcomer"]
    assert "not confirmed" in rows["newcomer"]
    assert "confirmed" in rows["participant"]
    assert "not confirmed" not in rows["participant"]
    assert "3 participants" in page


def test_the_participants_page_reads_as_many_rows_for_twenty_participants_as_for_three(
    world: ChallengeWithPeople, django_assert_max_num_queries: Callable[..., AbstractContextManager[object]]
) -> None:
    a_team_and_a_newcomer(world)
    organizer = logged_in(world, "organizer")
    link = reverse("organizer-participants", args=["isles24"])
    with CaptureQueriesContext(connection) as few:
        organizer.get(link)
    for index in range(17):
        ChallengeRoleFactory(challenge=world.challenge, user__email_verified=index % 2 == 0)

    with django_assert_max_num_queries(len(few.captured_queries)):
        page = organizer.get(link).content.decode()

    assert "20 participants" in page


def test_the_csv_export_has_the_same_rows_and_neutralises_formulas(world: ChallengeWithPeople) -> None:
    a_team_and_a_newcomer(world)

    response = logged_in(world, "organizer").get(reverse("organizer-participants-csv", args=["isles24"]))

    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="isles24-participants.csv"' in response["Content-Disposition"]
    rows = {row["username"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}
    assert set(rows) == {"participant", "'=cmd", "newcomer"}
    assert rows["'=cmd"]["team"] == "Stroke Lab"
    assert rows["'=cmd"]["consents_to_reruns"] == "yes"
    assert rows["participant"]["consents_to_reruns"] == "no"
    assert rows["participant"]["terms_version"] == "1"
    assert rows["participant"]["email_confirmed"] == "yes"
    assert rows["participant"]["joined_at"].endswith("+00:00")
    assert rows["newcomer"]["email_confirmed"] == "no"
    assert rows["newcomer"]["terms_accepted_at"] == ""
    assert rows["newcomer"]["consents_to_reruns"] == ""


def test_participants_readers_and_an_organizer_of_another_challenge_are_refused(
    world: ChallengeWithPeople,
) -> None:
    elsewhere = ChallengeRoleFactory(
        challenge=ChallengeFactory(slug="isles23"), role=ChallengeRole.Role.ORGANIZER
    ).user
    other = Client()
    other.force_login(elsewhere)
    for name in ("organizer-participants", "organizer-participants-csv"):
        url = reverse(name, args=["isles24"])
        assert Client().get(url).status_code == 302  # to the login page
        assert logged_in(world, "participant").get(url).status_code == 403
        assert logged_in(world, "reader").get(url).status_code == 403
        assert other.get(url).status_code == 403
