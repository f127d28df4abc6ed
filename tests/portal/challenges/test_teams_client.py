"""``isles teams``, ``team-invite``, ``team-join``, ``team-decline``, ``team-withdraw``, ``team-leave``,
``team-remove`` and ``team-captain`` against a live portal: one's team with its captain, members and
open invitations, a second user joining by the printed link, the captain's changes, and the API's
refusals."""

import io
import json
import urllib.request
from typing import Any

import pytest
from pytest_django.live_server_helper import LiveServer
from rest_framework.authtoken.models import Token

from inference.client import main
from portal.accounts.models import TeamMembership
from tests.portal.accounts.factories import TeamFactory, TeamMembershipFactory
from tests.portal.submissions import conftest as submissions_fixtures
from tests.portal.submissions.conftest import OpenPhase

pytestmark = pytest.mark.django_db(transaction=True)

open_phase = submissions_fixtures.open_phase


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _api(live_server: LiveServer, token: str, path: str) -> Any:
    request = urllib.request.Request(live_server.url + path, headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


@pytest.fixture
def world(open_phase: OpenPhase) -> OpenPhase:
    """The open phase's team Penumbra with the participant as its captain."""
    open_phase.team.captain = open_phase.participant
    open_phase.team.save()
    return open_phase


def _flags(live_server: LiveServer, user: object) -> tuple[str, ...]:
    return ("--url", live_server.url, "--token", Token.objects.get_or_create(user=user)[0].key)


def test_teams_shows_the_captain_the_members_and_the_invitation_team_invite_made(
    live_server: LiveServer, world: OpenPhase
) -> None:
    flags = _flags(live_server, world.participant)
    slug = world.phase.challenge.slug

    invited = _run(*flags, "team-invite", slug, "friend@example.org")
    code, out, err = _run(*flags, "teams", slug)

    assert invited[0] == 0, invited[2]
    assert invited[1].startswith(f"{live_server.url}/challenges/{slug}/invitations/")
    assert "friend@example.org was mailed" in invited[2]
    assert code == 0, err
    assert out.splitlines() == [
        "Team Penumbra (captain participant)",
        "  participant (captain)",
        "  teammate",
        "Open invitations: 1",
        f"  friend@example.org  {invited[1].strip()}",
    ]


def test_teams_json_is_the_apis_answer_and_null_without_a_team(
    live_server: LiveServer, world: OpenPhase
) -> None:
    flags = _flags(live_server, world.participant)
    slug = world.phase.challenge.slug
    _run(*flags, "team-invite", slug)

    mine = _run(*flags, "--json", "teams", slug)
    loner = _run(*_flags(live_server, world.loner), "teams", slug, "--json")

    assert mine[0] == loner[0] == 0
    assert json.loads(mine[1]) == _api(live_server, flags[3], f"/api/challenges/{slug}/teams/mine/")
    assert len(json.loads(mine[1])["invitations"]) == 1
    assert json.loads(loner[1]) is None


def test_teams_without_a_team_says_you_compete_under_your_own_name(
    live_server: LiveServer, world: OpenPhase
) -> None:
    slug = world.phase.challenge.slug

    code, out, _ = _run(*_flags(live_server, world.loner), "teams", slug)

    assert code == 0
    assert out.startswith(f"You are in no team of {slug}: you compete under your own name")


def test_teams_of_an_unknown_challenge_is_a_sentence(live_server: LiveServer, world: OpenPhase) -> None:
    code, out, err = _run(*_flags(live_server, world.loner), "teams", "no-such-challenge")

    assert code == 1
    assert out == ""
    assert err == "isles: There is no challenge 'no-such-challenge' you can see.\n"


def test_a_second_user_joins_by_the_link_team_invite_printed(
    live_server: LiveServer, world: OpenPhase
) -> None:
    slug = world.phase.challenge.slug
    link = _run(*_flags(live_server, world.participant), "team-invite", slug)[1].strip()

    code, out, err = _run(*_flags(live_server, world.loner), "team-join", slug, link)

    assert code == 0, err
    assert f"You joined team Penumbra of {slug}." in err
    assert "  loner" in out.splitlines()
    assert TeamMembership.objects.filter(team=world.team, user=world.loner).exists()


def test_joining_while_in_a_team_is_the_apis_sentence_and_with_json_its_code(
    live_server: LiveServer, world: OpenPhase
) -> None:
    slug = world.phase.challenge.slug
    invitation = json.loads(_run(*_flags(live_server, world.participant), "--json", "team-invite", slug)[1])
    TeamMembershipFactory(team=TeamFactory(challenge=world.phase.challenge, name="Core"), user=world.loner)
    sentence = "You are already in the team Core of this challenge; leave it first."
    loner = _flags(live_server, world.loner)

    plain = _run(*loner, "team-join", slug, invitation["token"])
    as_json = _run(*loner, "--json", "team-join", slug, invitation["token"])

    assert plain[0] == as_json[0] == 1
    assert plain[2] == f"isles: {sentence}\n"
    assert json.loads(as_json[1]) == {"code": "already_in_team", "detail": sentence}


def test_an_unknown_invitation_is_named(live_server: LiveServer, world: OpenPhase) -> None:
    slug = world.phase.challenge.slug

    code, _, err = _run(*_flags(live_server, world.loner), "team-join", slug, "nosuchtoken")

    assert code == 1
    assert err == f"isles: There is no invitation 'nosuchtoken' to a team of {slug!r}.\n"


def test_the_captain_hands_the_captaincy_on_and_only_the_captain_removes_a_member(
    live_server: LiveServer, world: OpenPhase
) -> None:
    slug = world.phase.challenge.slug
    participant, teammate = _flags(live_server, world.participant), _flags(live_server, world.teammate)

    handed = _run(*participant, "team-captain", slug, "teammate")
    refused = _run(*participant, "team-remove", slug, "teammate")
    removed = _run(*teammate, "--json", "team-remove", slug, "participant")

    assert handed[0] == 0, handed[2]
    assert handed[2] == "teammate is now the captain of Penumbra.\n"
    assert handed[1].splitlines()[:3] == [
        "Team Penumbra (captain teammate)",
        "  participant",
        "  teammate (captain)",
    ]
    assert refused[:3] == (1, "", "isles: Only the captain of Penumbra removes its members.\n")
    assert removed[0] == 0, removed[2]
    assert json.loads(removed[1]) == _api(live_server, teammate[3], f"/api/challenges/{slug}/teams/mine/")
    assert [member["username"] for member in json.loads(removed[1])["members"]] == ["teammate"]
    assert not TeamMembership.objects.filter(team=world.team, user=world.participant).exists()


def test_removing_someone_outside_the_team_names_its_members(
    live_server: LiveServer, world: OpenPhase
) -> None:
    slug = world.phase.challenge.slug

    code, out, err = _run(*_flags(live_server, world.participant), "team-remove", slug, "loner")

    assert (code, out) == (1, "")
    assert err == "isles: loner is not a member of Penumbra (participant, teammate).\n"


def test_members_leave_and_the_last_ones_json_is_null(live_server: LiveServer, world: OpenPhase) -> None:
    slug = world.phase.challenge.slug

    teammate = _run(*_flags(live_server, world.teammate), "team-leave", slug)
    captain = _run(*_flags(live_server, world.participant), "team-leave", slug, "--json")
    again = _run(*_flags(live_server, world.participant), "team-leave", slug)

    assert teammate == (
        0,
        f"You left team Penumbra of {slug}; you now compete under your own name.\n",
        "",
    )
    assert captain[:2] == (0, "null\n")
    assert again == (1, "", f"isles: You are in no team of {slug}: you compete under your own name.\n")
    assert not TeamMembership.objects.filter(team=world.team).exists()


def test_an_invitation_is_declined_and_a_withdrawn_one_says_so_when_joined(
    live_server: LiveServer, world: OpenPhase
) -> None:
    slug = world.phase.challenge.slug
    participant, loner = _flags(live_server, world.participant), _flags(live_server, world.loner)
    first = _run(*participant, "team-invite", slug)[1].strip()
    second = _run(*participant, "team-invite", slug, "loner@example.org")[1].strip()

    declined = _run(*loner, "team-decline", slug, first)
    withdrawn = _run(*participant, "--json", "team-withdraw", slug, second)
    said = _run(*participant, "team-withdraw", slug, second)
    joined = _run(*loner, "team-join", slug, second)

    assert declined == (0, "You declined the invitation of participant to team Penumbra.\n", "")
    assert withdrawn[0] == 0, withdrawn[2]
    assert json.loads(withdrawn[1])["status"] == "WITHDRAWN"
    assert json.loads(withdrawn[1])["url"] == second
    sentence = "Penumbra withdrew this invitation: ask its members for a new one."
    assert said == (1, "", f"isles: {sentence}\n")
    assert joined == (1, "", f"isles: {sentence}\n")
    assert _run(*participant, "teams", slug)[1].splitlines()[-1] == "No open invitations."
