"""Teams through their services: create, invite by e-mail and by link, withdraw an invitation, accept,
decline, leave, remove, hand the captaincy on; the freeze date and the one-person-one-side rule."""

import datetime
from dataclasses import dataclass

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from portal.accounts.models import ChallengeRole, Invitation, Team, TeamMembership, User
from portal.accounts.selectors import team_member_list, team_of
from portal.accounts.services import (
    invitation_accept,
    invitation_decline,
    invitation_withdraw,
    team_captain_hand_over,
    team_create,
    team_invite,
    team_leave,
    team_member_remove,
)
from portal.challenges.models import Challenge
from portal.errors import PortalError
from tests.portal.accounts.factories import ChallengeRoleFactory, UserFactory
from tests.portal.challenges.factories import ChallengeFactory, PhaseFactory


def _url(token: str) -> str:
    return f"https://portal.example.org/invitations/{token}/"


@dataclass(frozen=True)
class Cast:
    challenge: Challenge
    captain: User
    invitee: User
    stranger: User
    team: Team


def _participant(challenge: Challenge, username: str) -> User:
    return ChallengeRoleFactory(challenge=challenge, user__username=username).user


@pytest.fixture
def cast(db: None) -> Cast:
    """A public challenge, the captain of team Penumbra, and two participants without a team."""
    challenge = ChallengeFactory(title="ISLES 2024")
    captain = _participant(challenge, "captain")
    team = team_create(challenge=challenge, name="Penumbra", creator=captain)
    return Cast(
        challenge, captain, _participant(challenge, "invitee"), _participant(challenge, "stranger"), team
    )


def _refused(code: str) -> pytest.RaisesExc[PortalError]:
    return pytest.raises(PortalError, check=lambda error: error.code == code)


def test_team_create_makes_the_creator_its_captain_and_first_member(cast: Cast) -> None:
    assert cast.team.captain == cast.captain
    assert list(team_member_list(team=cast.team)) == [cast.captain]
    assert team_of(user=cast.invitee, challenge=cast.challenge) is None


def test_team_create_refuses_a_name_taken_in_any_case(cast: Cast) -> None:
    with _refused("name_taken"):
        team_create(challenge=cast.challenge, name=" PENUMBRA ", creator=cast.invitee)
    other = ChallengeFactory()
    ChallengeRoleFactory(challenge=other, user=cast.invitee)
    assert team_create(challenge=other, name="penumbra", creator=cast.invitee).name == "penumbra"


def test_an_invitation_by_email_is_mailed_and_accepted_by_its_address(cast: Cast) -> None:
    invitation = team_invite(
        team=cast.team, invited_by=cast.captain, email="INVITEE@example.org", invitation_url=_url
    )

    assert [message.to for message in mail.outbox] == [["INVITEE@example.org"]]
    assert _url(invitation.token) in mail.outbox[0].body
    assert "Penumbra" in mail.outbox[0].subject
    membership = invitation_accept(token=invitation.token, user=cast.invitee)
    invitation.refresh_from_db()
    assert membership.team == cast.team
    assert invitation.status == Invitation.Status.ACCEPTED
    assert invitation.answered_by == cast.invitee
    assert list(team_member_list(team=cast.team)) == [cast.captain, cast.invitee]


def test_inviting_the_same_address_again_sends_the_same_invitation(cast: Cast) -> None:
    first = team_invite(team=cast.team, invited_by=cast.captain, email="new@example.org", invitation_url=_url)
    again = team_invite(team=cast.team, invited_by=cast.captain, email="NEW@example.org", invitation_url=_url)

    assert again == first
    assert len(mail.outbox) == 2


def test_an_invitation_by_email_is_refused_to_another_user(cast: Cast) -> None:
    invitation = team_invite(
        team=cast.team, invited_by=cast.captain, email=cast.invitee.email, invitation_url=_url
    )

    with _refused("not_yours"):
        invitation_accept(token=invitation.token, user=cast.stranger)
    with _refused("not_yours"):
        invitation_decline(token=invitation.token, user=cast.stranger)
    assert team_of(user=cast.stranger, challenge=cast.challenge) is None


def test_an_invitation_by_link_is_accepted_once_by_whoever_holds_it(cast: Cast) -> None:
    invitation = team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url)

    assert invitation.email == ""
    assert mail.outbox == []
    invitation_accept(token=invitation.token, user=cast.stranger)
    assert team_of(user=cast.stranger, challenge=cast.challenge) == cast.team
    with _refused("answered"):
        invitation_accept(token=invitation.token, user=cast.invitee)


def test_accepting_joins_a_public_challenge_the_user_did_not_join_yet(cast: Cast) -> None:
    newcomer = UserFactory()
    invitation = team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url)

    invitation_accept(token=invitation.token, user=newcomer)

    assert ChallengeRole.objects.filter(
        user=newcomer, challenge=cast.challenge, role=ChallengeRole.Role.PARTICIPANT
    ).exists()


def test_a_declined_invitation_can_no_longer_be_accepted(cast: Cast) -> None:
    invitation = team_invite(
        team=cast.team, invited_by=cast.captain, email=cast.invitee.email, invitation_url=_url
    )

    assert invitation_decline(token=invitation.token, user=cast.invitee).status == Invitation.Status.DECLINED
    with _refused("answered"):
        invitation_accept(token=invitation.token, user=cast.invitee)
    assert team_of(user=cast.invitee, challenge=cast.challenge) is None


def test_the_captain_withdraws_an_open_invitation_and_its_link_says_so(cast: Cast) -> None:
    invitation_accept(
        token=team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url).token,
        user=cast.stranger,
    )
    invitation = team_invite(team=cast.team, invited_by=cast.stranger, invitation_url=_url)

    with pytest.raises(PermissionDenied):
        invitation_withdraw(team=cast.team, token=invitation.token, by=cast.stranger)
    withdrawn = invitation_withdraw(team=cast.team, token=invitation.token, by=cast.captain)

    assert withdrawn.status == Invitation.Status.WITHDRAWN
    sentence = "Penumbra withdrew this invitation: ask its members for a new one."
    for attempt in (
        lambda: invitation_accept(token=invitation.token, user=cast.invitee),
        lambda: invitation_decline(token=invitation.token, user=cast.invitee),
        lambda: invitation_withdraw(team=cast.team, token=invitation.token, by=cast.captain),
    ):
        with _refused("answered") as refusal:
            attempt()
        assert str(refusal.value) == sentence
    assert team_of(user=cast.invitee, challenge=cast.challenge) is None


def test_a_captain_withdraws_only_their_own_teams_invitations(cast: Cast) -> None:
    other = team_create(challenge=cast.challenge, name="Core", creator=cast.invitee)
    invitation = team_invite(team=other, invited_by=cast.invitee, invitation_url=_url)

    with pytest.raises(Invitation.DoesNotExist):
        invitation_withdraw(team=cast.team, token=invitation.token, by=cast.captain)
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING


def test_an_invitation_is_withdrawn_after_the_teams_froze(cast: Cast) -> None:
    invitation = team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url)
    PhaseFactory(challenge=cast.challenge, team_freeze_at=timezone.now() - datetime.timedelta(hours=1))

    invitation_withdraw(team=cast.team, token=invitation.token, by=cast.captain)

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.WITHDRAWN


def test_a_member_of_another_team_leaves_it_before_accepting(cast: Cast) -> None:
    team_create(challenge=cast.challenge, name="Core", creator=cast.invitee)
    invitation = team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url)

    with _refused("already_in_team"):
        invitation_accept(token=invitation.token, user=cast.invitee)


def test_only_members_invite(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        team_invite(team=cast.team, invited_by=cast.stranger, invitation_url=_url)


@pytest.mark.parametrize("role", [ChallengeRole.Role.ORGANIZER, ChallengeRole.Role.READER])
def test_organizers_and_readers_are_never_invited_nor_join(cast: Cast, role: str) -> None:
    inside = ChallengeRoleFactory(challenge=cast.challenge, role=role).user
    with _refused("other_side"):
        team_invite(team=cast.team, invited_by=cast.captain, email=inside.email, invitation_url=_url)
    link = team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url)

    with _refused("other_side"):
        invitation_accept(token=link.token, user=inside)
    with _refused("not_participant"):
        team_create(challenge=cast.challenge, name="Inside", creator=inside)
    assert not TeamMembership.objects.filter(user=inside).exists()


def test_a_member_leaves_and_competes_alone(cast: Cast) -> None:
    invitation = team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url)
    invitation_accept(token=invitation.token, user=cast.invitee)

    assert team_leave(challenge=cast.challenge, user=cast.invitee) == cast.team
    assert team_of(user=cast.invitee, challenge=cast.challenge) is None
    with _refused("not_member"):
        team_leave(challenge=cast.challenge, user=cast.invitee)


def test_a_captain_hands_the_captaincy_on_before_leaving(cast: Cast) -> None:
    invitation_accept(
        token=team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url).token,
        user=cast.invitee,
    )
    with _refused("captain_leaves"):
        team_leave(challenge=cast.challenge, user=cast.captain)

    with pytest.raises(PermissionDenied):
        team_captain_hand_over(team=cast.team, to=cast.invitee, by=cast.invitee)
    team_captain_hand_over(team=cast.team, to=cast.invitee, by=cast.captain)
    team_leave(challenge=cast.challenge, user=cast.captain)

    cast.team.refresh_from_db()
    assert cast.team.captain == cast.invitee


def test_the_last_member_leaving_withdraws_the_open_invitations(cast: Cast) -> None:
    invitation = team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url)

    team_leave(challenge=cast.challenge, user=cast.captain)

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.WITHDRAWN
    with _refused("answered"):
        invitation_accept(token=invitation.token, user=cast.invitee)


def test_the_captain_removes_a_member_and_nobody_else_does(cast: Cast) -> None:
    for user in (cast.invitee, cast.stranger):
        invitation_accept(
            token=team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url).token, user=user
        )

    with pytest.raises(PermissionDenied):
        team_member_remove(team=cast.team, member=cast.stranger, removed_by=cast.invitee)
    with _refused("captain_leaves"):
        team_member_remove(team=cast.team, member=cast.captain, removed_by=cast.captain)
    team_member_remove(team=cast.team, member=cast.stranger, removed_by=cast.captain)

    assert list(team_member_list(team=cast.team)) == [cast.captain, cast.invitee]
    with _refused("not_member"):
        team_member_remove(team=cast.team, member=cast.stranger, removed_by=cast.captain)


def test_membership_is_frozen_once_a_phase_freeze_date_passed(cast: Cast) -> None:
    invitation = team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url)
    invitation_accept(
        token=team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url).token,
        user=cast.stranger,
    )
    PhaseFactory(challenge=cast.challenge, team_freeze_at=timezone.now() + datetime.timedelta(days=3))
    frozen_at = timezone.now() - datetime.timedelta(hours=1)
    PhaseFactory(challenge=cast.challenge, team_freeze_at=frozen_at)

    attempts = [
        lambda: team_create(challenge=cast.challenge, name="Late", creator=cast.invitee),
        lambda: team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url),
        lambda: invitation_accept(token=invitation.token, user=cast.invitee),
        lambda: team_leave(challenge=cast.challenge, user=cast.stranger),
        lambda: team_member_remove(team=cast.team, member=cast.stranger, removed_by=cast.captain),
    ]
    for attempt in attempts:
        with _refused("teams_frozen") as refusal:
            attempt()
        assert str(refusal.value) == (
            f"The teams of ISLES 2024 were frozen on {frozen_at.astimezone(datetime.UTC):%Y-%m-%d %H:%M} "
            "UTC: nobody creates, joins or leaves a team of it any more, and no member is removed."
        )
    team_captain_hand_over(team=cast.team, to=cast.stranger, by=cast.captain)
    assert list(team_member_list(team=cast.team)) == [cast.captain, cast.stranger]


def test_a_future_freeze_date_changes_nothing_yet(cast: Cast) -> None:
    PhaseFactory(challenge=cast.challenge, team_freeze_at=timezone.now() + datetime.timedelta(days=1))

    invitation = team_invite(team=cast.team, invited_by=cast.captain, invitation_url=_url)
    invitation_accept(token=invitation.token, user=cast.invitee)
    team_leave(challenge=cast.challenge, user=cast.invitee)
