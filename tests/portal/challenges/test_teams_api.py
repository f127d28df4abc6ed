"""The teams API: create, invite by e-mail and by link, withdraw an invitation, accept, decline, leave,
remove, hand the captaincy on, the freeze date and the one-person-one-side rule, each as a client sees
it."""

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from portal.accounts.models import ChallengeRole, Invitation, User
from portal.accounts.selectors import team_of
from portal.challenges.models import Challenge
from tests.portal.accounts.factories import ChallengeRoleFactory
from tests.portal.challenges.factories import ChallengeFactory, PhaseFactory


@dataclass(frozen=True)
class Api:
    challenge: Challenge
    users: dict[str, User]

    def client(self, person: str) -> Client:
        token, _ = Token.objects.get_or_create(user=self.users[person])
        return Client(headers={"authorization": f"Token {token.key}"})

    def post(self, person: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"/api/challenges/{self.challenge.slug}/teams/{path}"
        return self.client(person).post(url, body or {}, content_type="application/json")

    def get(self, person: str, path: str) -> Any:
        return self.client(person).get(f"/api/challenges/{self.challenge.slug}/teams/{path}")


@pytest.fixture
def api(db: None) -> Api:
    """A public challenge with three participants, an organizer and an expert reader; no team yet."""
    challenge = ChallengeFactory(slug="isles24", title="ISLES 2024")
    users = {
        name: ChallengeRoleFactory(challenge=challenge, user__username=name).user
        for name in ("captain", "invitee", "stranger")
    }
    for role in (ChallengeRole.Role.ORGANIZER, ChallengeRole.Role.READER):
        users[role.lower()] = ChallengeRoleFactory(
            challenge=challenge, role=role, user__username=role.lower()
        ).user
    return Api(challenge, users)


def _team(api: Api) -> dict[str, Any]:
    response = api.post("captain", "", {"name": "Penumbra"})
    assert response.status_code == 201, response.content
    return response.json()


def _link(api: Api, email: str = "") -> str:
    response = api.post("captain", "mine/invitations/", {"email": email})
    assert response.status_code == 201, response.content
    return response.json()["token"]


def test_a_participant_creates_a_team_and_captains_it(api: Api) -> None:
    team = _team(api)

    assert team["name"] == "Penumbra"
    assert team["captain"] == "captain"
    assert [member["username"] for member in team["members"]] == ["captain"]
    listed = api.get("stranger", "").json()
    assert [(entry["name"], entry["member_count"]) for entry in listed] == [("Penumbra", 1)]


def test_a_team_name_is_unique_in_the_challenge_whatever_its_case(api: Api) -> None:
    _team(api)

    response = api.post("invitee", "", {"name": "penumbra"})

    assert response.status_code == 400
    assert response.json() == {
        "code": "name_taken",
        "detail": "A team called 'penumbra' already exists in this challenge.",
    }


def test_an_invitation_by_email_is_mailed_with_its_link_and_accepted(api: Api) -> None:
    _team(api)
    response = api.post("captain", "mine/invitations/", {"email": "invitee@example.org"})

    invitation = response.json()
    assert response.status_code == 201
    assert invitation["url"] == f"http://testserver/challenges/isles24/invitations/{invitation['token']}/"
    assert [message.to for message in mail.outbox] == [["invitee@example.org"]]
    assert invitation["url"] in mail.outbox[0].body
    assert api.get("invitee", f"invitations/{invitation['token']}/").json() == {
        "team": "Penumbra",
        "invited_by": "captain",
        "status": "PENDING",
        "is_for_you": True,
    }
    refused = api.post("stranger", f"invitations/{invitation['token']}/accept/")
    assert (refused.status_code, refused.json()["code"]) == (400, "not_yours")
    accepted = api.post("invitee", f"invitations/{invitation['token']}/accept/")
    assert accepted.status_code == 200
    assert [member["username"] for member in accepted.json()["members"]] == ["captain", "invitee"]


def test_an_invitation_by_link_is_accepted_or_declined_by_whoever_holds_it(api: Api) -> None:
    _team(api)
    first, second = _link(api), _link(api)

    declined = api.post("stranger", f"invitations/{first}/decline/")
    accepted = api.post("invitee", f"invitations/{second}/accept/")

    assert declined.json()["status"] == "DECLINED"
    assert accepted.status_code == 200
    again = api.post("stranger", f"invitations/{first}/accept/")
    assert (again.status_code, again.json()["code"]) == (400, "answered")
    assert api.get("captain", "mine/").json()["invitations"] == []


def test_the_captain_withdraws_an_invitation_and_a_member_cannot(api: Api) -> None:
    _team(api)
    api.post("invitee", f"invitations/{_link(api)}/accept/")
    token = _link(api, "stranger@example.org")

    refused = api.post("invitee", f"mine/invitations/{token}/withdraw/")
    withdrawn = api.post("captain", f"mine/invitations/{token}/withdraw/")
    again = api.post("captain", f"mine/invitations/{token}/withdraw/")
    accepted = api.post("stranger", f"invitations/{token}/accept/")

    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert (withdrawn.status_code, withdrawn.json()["status"]) == (200, "WITHDRAWN")
    sentence = "Penumbra withdrew this invitation: ask its members for a new one."
    assert [(response.status_code, response.json()) for response in (again, accepted)] == [
        (400, {"code": "answered", "detail": sentence})
    ] * 2
    assert api.get("stranger", f"invitations/{token}/").json()["status"] == "WITHDRAWN"
    assert api.get("captain", "mine/").json()["invitations"] == []
    assert api.post("captain", "mine/invitations/no-such-token/withdraw/").status_code == 404


@pytest.mark.parametrize("person", ["organizer", "reader"])
def test_organizers_and_readers_are_never_invited_nor_join(api: Api, person: str) -> None:
    _team(api)

    invited = api.post("captain", "mine/invitations/", {"email": api.users[person].email})
    joined = api.post(person, f"invitations/{_link(api)}/accept/")

    assert (invited.status_code, invited.json()["code"]) == (400, "other_side")
    assert (joined.status_code, joined.json()["code"]) == (400, "other_side")
    assert team_of(user=api.users[person], challenge=api.challenge) is None


def test_a_member_leaves_and_has_no_team_afterwards(api: Api) -> None:
    _team(api)
    api.post("invitee", f"invitations/{_link(api)}/accept/")

    assert api.post("invitee", "mine/leave/").status_code == 204
    assert api.get("invitee", "mine/").status_code == 404
    captain_leaves = api.post("captain", "mine/leave/")
    assert captain_leaves.status_code == 204


def test_the_captain_removes_a_member_and_a_member_cannot(api: Api) -> None:
    _team(api)
    for person in ("invitee", "stranger"):
        api.post(person, f"invitations/{_link(api)}/accept/")
    stranger = api.users["stranger"].pk

    refused = api.post("invitee", f"mine/members/{stranger}/remove/")
    removed = api.post("captain", f"mine/members/{stranger}/remove/")

    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert removed.status_code == 200
    assert [member["username"] for member in removed.json()["members"]] == ["captain", "invitee"]


def test_the_captain_hands_the_captaincy_on(api: Api) -> None:
    _team(api)
    api.post("invitee", f"invitations/{_link(api)}/accept/")

    response = api.post("captain", "mine/captain/", {"user": api.users["invitee"].pk})

    assert response.json()["captain"] == "invitee"
    assert api.post("captain", "mine/captain/", {"user": api.users["captain"].pk}).status_code == 403


def test_membership_changes_are_refused_after_the_freeze_date_with_the_date(api: Api) -> None:
    _team(api)
    token = _link(api)
    frozen_at = timezone.now() - datetime.timedelta(minutes=5)
    PhaseFactory(challenge=api.challenge, team_freeze_at=frozen_at)

    refusals = [
        api.post("invitee", f"invitations/{token}/accept/"),
        api.post("captain", "mine/leave/"),
        api.post("stranger", "", {"name": "Late"}),
        api.post("captain", "mine/invitations/", {}),
    ]

    sentence = (
        f"The teams of ISLES 2024 were frozen on {frozen_at.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC: "
        "nobody creates, joins or leaves a team of it any more, and no member is removed."
    )
    assert [(response.status_code, response.json()) for response in refusals] == [
        (400, {"code": "teams_frozen", "detail": sentence})
    ] * 4
    assert Invitation.objects.get(token=token).status == Invitation.Status.PENDING


def test_an_unknown_invitation_or_a_user_without_a_team_gets_a_404(api: Api) -> None:
    assert api.get("stranger", "invitations/no-such-token/").status_code == 404
    assert api.post("stranger", "mine/leave/").status_code == 404
    assert api.post("stranger", "mine/invitations/", {}).status_code == 404


def test_the_team_list_and_ones_team_take_a_fixed_number_of_queries(
    api: Api, django_assert_num_queries: Callable[..., Any]
) -> None:
    _team(api)
    for person in ("invitee", "stranger"):
        api.post(person, f"invitations/{_link(api)}/accept/")
    _link(api)
    client = api.client("captain")

    with django_assert_num_queries(3):
        listed = client.get("/api/challenges/isles24/teams/")
    with django_assert_num_queries(5):
        mine = client.get("/api/challenges/isles24/teams/mine/")

    assert listed.json()[0]["member_count"] == 3
    assert len(mine.json()["members"]) == 3
    assert len(mine.json()["invitations"]) == 1
