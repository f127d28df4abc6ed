"""Reads about users: the roles a user holds in a challenge."""

from django.db.models import QuerySet

from portal.accounts.models import ChallengeRole, User
from portal.challenges.models import Challenge


def user_roles(*, user: User, challenge: Challenge) -> frozenset[str]:
    """The roles (``ChallengeRole.Role`` values) the user holds in the challenge; none when anonymous."""
    if not user.is_authenticated:
        return frozenset()
    return frozenset(
        ChallengeRole.objects.filter(user=user, challenge=challenge).values_list("role", flat=True)
    )


def user_role_list(*, user: User) -> QuerySet[ChallengeRole]:
    """Every role the user holds, with its challenge, oldest first."""
    return ChallengeRole.objects.filter(user=user).select_related("challenge").order_by("created_at")
