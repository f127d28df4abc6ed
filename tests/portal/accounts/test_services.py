"""API tokens, joining challenges and creating teams."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from portal.accounts.models import ChallengeRole, TeamMembership
from portal.accounts.selectors import user_roles
from portal.accounts.services import (
    challenge_join,
    team_create,
    token_get_or_create,
    token_regenerate,
)
from tests.portal.accounts.factories import ChallengeRoleFactory, UserFactory
from tests.portal.challenges.factories import ChallengeFactory

STRONG_PASSWORD = "perfusion-tmax-6s"


def test_token_regenerate_replaces_the_key(db: None) -> None:
    user = UserFactory()
    old_key = token_get_or_create(user=user).key

    new_key = token_regenerate(user=user).key

    assert new_key != old_key
    assert token_get_or_create(user=user).key == new_key


def test_challenge_join_makes_a_participant_once(db: None) -> None:
    challenge = ChallengeFactory()
    user = UserFactory()

    first = challenge_join(challenge=challenge, user=user)
    second = challenge_join(challenge=challenge, user=user)

    assert first == second
    assert user_roles(user=user, challenge=challenge) == {ChallengeRole.Role.PARTICIPANT}


def test_challenge_join_refuses_organizers_and_hidden_challenges(db: None) -> None:
    organizer = ChallengeRoleFactory(role=ChallengeRole.Role.ORGANIZER)
    hidden = ChallengeFactory(is_public=False)

    with pytest.raises(ValidationError, match="Organizers"):
        challenge_join(challenge=organizer.challenge, user=organizer.user)
    with pytest.raises(ValidationError, match="invitation"):
        challenge_join(challenge=hidden, user=UserFactory())


def test_team_create_makes_the_creator_its_first_member(db: None) -> None:
    participant = ChallengeRoleFactory()

    team = team_create(challenge=participant.challenge, name=" Penumbra ", creator=participant.user)

    assert team.name == "Penumbra"
    assert list(team.members.all()) == [participant.user]


def test_team_create_refuses_outsiders_second_teams_and_taken_names(db: None) -> None:
    participant = ChallengeRoleFactory()
    challenge = participant.challenge
    other = ChallengeRoleFactory(challenge=challenge)
    team_create(challenge=challenge, name="Penumbra", creator=participant.user)

    with pytest.raises(ValidationError, match="Join the challenge"):
        team_create(challenge=challenge, name="Core", creator=UserFactory())
    with pytest.raises(ValidationError, match="already in the team Penumbra"):
        team_create(challenge=challenge, name="Core", creator=participant.user)
    with pytest.raises(ValidationError, match="already exists"):
        team_create(challenge=challenge, name="penumbra", creator=other.user)
    assert TeamMembership.objects.filter(challenge=challenge).count() == 1


def test_user_roles_of_an_anonymous_visitor_are_empty(db: None) -> None:
    assert user_roles(user=AnonymousUser(), challenge=ChallengeFactory()) == frozenset()
