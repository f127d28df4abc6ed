"""The team pages: one's team in a challenge, its forms, an invitation's page, and what the challenge
and submissions pages say to a participant with a team and without one."""

import datetime
from dataclasses import dataclass

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.accounts.models import Invitation, Team, User
from portal.accounts.selectors import team_member_list, team_of
from portal.challenges.models import Challenge, Phase
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import ChallengeFactory, PhaseFactory


@dataclass(frozen=True)
class Pages:
    challenge: Challenge
    users: dict[str, User]

    def client(self, person: str) -> Client:
        client = Client()
        client.force_login(self.users[person])
        return client

    def post(self, person: str, name: str, data: dict[str, object] | None = None, **kwargs: object) -> str:
        url = reverse(name, kwargs={"slug": self.challenge.slug, **kwargs})
        return self.client(person).post(url, data or {}, follow=True).content.decode()


@pytest.fixture
def pages(db: None) -> Pages:
    challenge = ChallengeFactory(slug="isles24", title="ISLES 2024")
    users = {
        name: ChallengeRoleFactory(challenge=challenge, user__username=name).user
        for name in ("captain", "invitee", "stranger")
    }
    return Pages(challenge, users)


def _team(pages: Pages) -> Team:
    pages.post("captain", "team-create", {"name": "Penumbra"})
    team = team_of(user=pages.users["captain"], challenge=pages.challenge)
    assert team is not None
    return team


def test_a_participant_without_a_team_is_told_they_compete_under_their_own_name(pages: Pages) -> None:
    challenge_page = pages.client("stranger").get(reverse("challenge-detail", args=["isles24"])).content
    team_page = pages.client("stranger").get(reverse("team-detail", args=["isles24"])).content

    assert b"You have no team: you compete under your own name." in challenge_page
    assert b"You have no team: you compete under your own name, stranger." in team_page


def test_the_submissions_page_names_the_team_or_says_there_is_none(pages: Pages) -> None:
    phase = PhaseFactory(challenge=pages.challenge)
    _team(pages)
    url = reverse("phase-submissions", args=[phase.slug])

    alone = pages.client("stranger").get(url).content.decode()
    in_team = pages.client("captain").get(url).content.decode()

    assert "Your team may submit" not in alone
    assert "You have no team: you compete under your own name, stranger, and may submit" in alone
    assert "My submissions" in alone
    assert "You submit for your team Penumbra, which may submit" in in_team
    assert "My team's submissions" in in_team


def test_a_team_is_created_and_invites_by_email_and_by_link_from_its_page(pages: Pages) -> None:
    team = _team(pages)

    pages.post("captain", "team-invite", {"email": "invitee@example.org"})
    page = pages.post("captain", "team-invite", {"email": ""})

    link = Invitation.objects.get(team=team, email="")
    assert [message.to for message in mail.outbox] == [["invitee@example.org"]]
    assert f"/challenges/isles24/invitations/{link.token}/" in page
    assert "To invitee@example.org" in page


def test_an_invitation_page_accepts_and_declines(pages: Pages) -> None:
    team = _team(pages)
    pages.post("captain", "team-invite")
    pages.post("captain", "team-invite")
    first, second = Invitation.objects.filter(team=team).order_by("pk")

    shown = pages.client("invitee").get(reverse("team-invitation", args=["isles24", first.token])).content
    joined = pages.post("invitee", "team-invitation", {"answer": "accept"}, token=first.token)
    pages.post("stranger", "team-invitation", {"answer": "decline"}, token=second.token)

    assert b"captain invites you to join Penumbra." in shown
    assert "You joined Penumbra." in joined
    second.refresh_from_db()
    assert second.status == Invitation.Status.DECLINED
    assert list(team_member_list(team=team)) == [pages.users["captain"], pages.users["invitee"]]


def test_the_captain_withdraws_an_invitation_from_the_team_page_and_its_page_says_so(pages: Pages) -> None:
    team = _team(pages)
    pages.post("captain", "team-invite", {"email": "invitee@example.org"})
    invitation = Invitation.objects.get(team=team)
    before = pages.client("captain").get(reverse("team-detail", args=["isles24"])).content.decode()
    withdraw = reverse("team-invitation-withdraw", args=["isles24", invitation.token])

    page = pages.post("captain", "team-invitation-withdraw", token=invitation.token)
    shown = pages.client("invitee").get(reverse("team-invitation", args=["isles24", invitation.token]))

    assert f'action="{withdraw}"' in before
    assert "You withdrew the invitation to invitee@example.org: its link no longer works." in page
    assert "Open invitations" not in page
    assert b"Penumbra withdrew this invitation: ask its members for a new one." in shown.content
    assert b'value="accept"' not in shown.content


def test_only_the_captain_withdraws_an_invitation_from_the_page(pages: Pages) -> None:
    team = _team(pages)
    pages.post("captain", "team-invite")
    token = Invitation.objects.get(team=team).token
    pages.post("invitee", "team-invitation", {"answer": "accept"}, token=token)
    pages.post("invitee", "team-invite")
    invitation = Invitation.objects.get(team=team, status=Invitation.Status.PENDING)
    url = reverse("team-invitation-withdraw", args=["isles24", invitation.token])

    member_page = pages.client("invitee").get(reverse("team-detail", args=["isles24"])).content.decode()
    refused = pages.client("invitee").post(url)

    assert f'action="{url}"' not in member_page
    assert refused.status_code == 403
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING


def test_a_refusal_is_a_message_on_the_team_page(pages: Pages) -> None:
    _team(pages)

    page = pages.post("invitee", "team-create", {"name": "PENUMBRA"})

    assert "A team called &#x27;PENUMBRA&#x27; already exists in this challenge." in page


def test_only_the_captain_removes_a_member_from_the_page(pages: Pages) -> None:
    team = _team(pages)
    for person in ("invitee", "stranger"):
        pages.post("captain", "team-invite")
        token = Invitation.objects.filter(team=team, status=Invitation.Status.PENDING).get().token
        pages.post(person, "team-invitation", {"answer": "accept"}, token=token)
    stranger = pages.users["stranger"]
    url = reverse("team-member-remove", args=["isles24", stranger.pk])

    refused = pages.client("invitee").post(url)
    removed = pages.client("captain").post(url, follow=True).content.decode()

    assert refused.status_code == 403
    assert "stranger is no longer a member of Penumbra." in removed
    assert team_of(user=stranger, challenge=pages.challenge) is None


def test_leaving_from_the_page(pages: Pages) -> None:
    _team(pages)

    page = pages.post("captain", "team-leave")

    assert "You left Penumbra; you now compete under your own name." in page


def test_the_team_page_says_when_teams_freeze_and_that_they_are_frozen(pages: Pages) -> None:
    freeze_at = timezone.now() + datetime.timedelta(days=2)
    phase = PhaseFactory(challenge=pages.challenge, team_freeze_at=freeze_at)
    url = reverse("team-detail", args=["isles24"])

    before = pages.client("stranger").get(url).content.decode()
    Phase.objects.filter(pk=phase.pk).update(team_freeze_at=timezone.now() - datetime.timedelta(hours=1))
    after = pages.client("stranger").get(url).content.decode()

    assert f"Teams freeze on {freeze_at.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC" in before
    assert "The teams of ISLES 2024 were frozen on" in after
    assert "Teams freeze on" not in after
