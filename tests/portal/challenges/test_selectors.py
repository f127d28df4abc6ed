"""Reads about challenges: which ones a user organizes."""

from django.contrib.auth.models import AnonymousUser

from portal.accounts.models import ChallengeRole
from portal.challenges.selectors import challenge_list_organized_by
from tests.portal.accounts.factories import ChallengeRoleFactory, UserFactory
from tests.portal.challenges.factories import ChallengeFactory


def test_challenge_list_organized_by_lists_the_challenges_a_user_organizes_by_title(db: None) -> None:
    organizer = UserFactory()
    for title in ("Stroke B", "Stroke A"):
        ChallengeRoleFactory(
            user=organizer, challenge=ChallengeFactory(title=title), role=ChallengeRole.Role.ORGANIZER
        )
    ChallengeRoleFactory(user=organizer, role=ChallengeRole.Role.PARTICIPANT)
    ChallengeRoleFactory(role=ChallengeRole.Role.ORGANIZER)

    organized = challenge_list_organized_by(user=organizer)

    assert [challenge.title for challenge in organized] == ["Stroke A", "Stroke B"]


def test_challenge_list_organized_by_gives_staff_and_anonymous_users_nothing(db: None) -> None:
    ChallengeRoleFactory(role=ChallengeRole.Role.ORGANIZER)
    superuser = UserFactory(is_staff=True, is_superuser=True)

    assert not challenge_list_organized_by(user=superuser).exists()
    assert not challenge_list_organized_by(user=AnonymousUser()).exists()
