"""Reads about users: the roles a user holds in a challenge, and the portal's two people rules.

- **Organizer of a challenge**: a user holding the challenge's ORGANIZER role. This is the one rule for
  it, used by every app (as a boolean, ``user_is_organizer``; on roles a page has read already,
  ``roles_make_organizer``; or as a filter, ``organizer_of``). Django's ``is_staff`` and
  ``is_superuser`` grant nothing on challenge data: they open the admin site only.
- **One person, one side**: a user who takes part in a challenge (its PARTICIPANT role, or a member of
  one of its teams) is never an organizer or an expert reader of it, and the reverse; an expert reader
  (the READER role) reads or annotates the challenge's hidden test cases.
"""

from collections.abc import Collection
from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, QuerySet

from portal.accounts.models import ChallengeRole, TeamMembership, User

if TYPE_CHECKING:
    # For annotations only: challenges sit above accounts, which never imports them at run time.
    from portal.challenges.models import Challenge

Role = ChallengeRole.Role
INSIDE_ROLES = (Role.ORGANIZER, Role.READER)
"""Roles that see a challenge's hidden data: never held by someone who takes part in it."""


def user_roles(*, user: User, challenge: "Challenge") -> frozenset[str]:
    """The roles (``ChallengeRole.Role`` values) the user holds in the challenge; none when anonymous."""
    if not user.is_authenticated:
        return frozenset()
    return frozenset(
        ChallengeRole.objects.filter(user=user, challenge=challenge).values_list("role", flat=True)
    )


def user_role_list(*, user: User) -> QuerySet[ChallengeRole]:
    """Every role the user holds, with its challenge, oldest first."""
    return ChallengeRole.objects.filter(user=user).select_related("challenge").order_by("created_at")


def organizer_of(user: User, *, challenge: str) -> Exists:
    """Whether ``user`` organizes the challenge that the field path ``challenge`` of the filtered model
    names (``"pk"`` on challenges, ``"phase__challenge_id"`` on submissions...), as a filter expression.

    Always false for an anonymous user.
    """
    if not user.is_authenticated:
        return Exists(ChallengeRole.objects.none())
    return Exists(ChallengeRole.objects.filter(user=user, challenge=OuterRef(challenge), role=Role.ORGANIZER))


def user_is_organizer(*, user: User, challenge: "Challenge | int") -> bool:
    """Whether the user organizes the challenge (``challenge`` or its primary key)."""
    if not user.is_authenticated:
        return False
    return ChallengeRole.objects.filter(user=user, challenge=challenge, role=Role.ORGANIZER).exists()


def roles_make_organizer(*, roles: Collection[str]) -> bool:
    """Whether a user holding ``roles`` in a challenge (as ``user_roles`` reads them) organizes it: the
    rule of ``user_is_organizer``, for a page that has read the roles already."""
    return Role.ORGANIZER in roles


def users_taking_part(*, challenge: "Challenge | int") -> QuerySet[User]:
    """The users who take part in the challenge: its participant role, or a member of one of its teams (a
    team member counts even if a role row was never made for them)."""
    return User.objects.filter(
        Exists(ChallengeRole.objects.filter(user=OuterRef("pk"), challenge=challenge, role=Role.PARTICIPANT))
        | Exists(TeamMembership.objects.filter(user=OuterRef("pk"), challenge=challenge))
    )


def user_takes_part(*, user: User, challenge: "Challenge | int") -> bool:
    """Whether the user takes part in the challenge (see ``users_taking_part``)."""
    return users_taking_part(challenge=challenge).filter(pk=user.pk).exists()


def user_is_inside(*, user: User, challenge: "Challenge | int") -> bool:
    """Whether the user organizes the challenge or reads its hidden cases (an ORGANIZER or READER role)."""
    return ChallengeRole.objects.filter(user=user, challenge=challenge, role__in=INSIDE_ROLES).exists()


def challenge_role_conflict(*, user: User, challenge: "Challenge", role: str) -> str | None:
    """Why giving the user ``role`` in the challenge would put them on both sides, or None when it would
    not: someone who takes part is never an organizer or expert reader, and the reverse."""
    if role == Role.PARTICIPANT and user_is_inside(user=user, challenge=challenge):
        return "Organizers and expert readers of a challenge see its hidden data, so they cannot take part."
    if role != Role.PARTICIPANT and user_takes_part(user=user, challenge=challenge):
        return (
            f"{user.username} takes part in {challenge.title}, so they cannot be one of its "
            f"{Role(role).label.lower()}s: they would see its hidden data."
        )
    return None
