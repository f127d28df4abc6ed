"""Reads about users: the roles a user holds in a challenge, and the portal's two people rules.

- **Organizer of a challenge**: a user holding the challenge's ORGANIZER role. This is the one rule for
  it, used by every app (as a boolean, ``user_is_organizer``; on roles a page has read already,
  ``roles_make_organizer``; or as a filter, ``organizer_of``). Django's ``is_staff`` and
  ``is_superuser`` grant nothing on challenge data: they open the admin site only.
- **Teams**: a participant is in one team of a challenge at most, or competes alone under their own
  name; a challenge's teams stop changing members once the team freeze date of any of its phases has
  passed (``team_freeze_sentence``).
- **Participant approval**: where a challenge's organizers approve participants, joining it asks them
  (a ``ParticipationRequest``); the person is no participant until an organizer approves.
- **One person, one side**: a user who takes part in a challenge (its PARTICIPANT role, or a member of
  one of its teams) is never an organizer or an expert reader of it, and the reverse; an expert reader
  (the READER role) reads or annotates the challenge's hidden test cases.
"""

import datetime
from collections.abc import Collection
from typing import TYPE_CHECKING

from allauth.account.models import EmailAddress
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.utils import timezone

from portal.accounts.models import ChallengeRole, Invitation, ParticipationRequest, Team, TeamMembership, User

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


def user_email_verified(*, user: User) -> bool:
    """Whether the user confirmed an e-mail address by following the link sent to it (django-allauth's
    ``EmailAddress``), as a participant must before their first submission."""
    return EmailAddress.objects.filter(user=user, verified=True).exists()


def users_email_verified(*, users: Collection[User]) -> set[int]:
    """The ids of those of ``users`` who confirmed an e-mail address: ``user_email_verified`` for a list,
    in one query."""
    return set(EmailAddress.objects.filter(user__in=users, verified=True).values_list("user_id", flat=True))


def user_find(*, username_or_email: str) -> User | None:
    """The user whose username or e-mail address (either in any case) this is, or None."""
    text = username_or_email.strip()
    if not text:
        return None
    field = "email__iexact" if "@" in text else "username__iexact"
    return User.objects.filter(**{field: text}).first()


def challenge_inside_role_list(*, challenge: "Challenge") -> QuerySet[ChallengeRole]:
    """The challenge's organizer and expert-reader roles, with their users: organizers first, then by
    username."""
    return (
        ChallengeRole.objects.filter(challenge=challenge, role__in=INSIDE_ROLES)
        .select_related("user", "challenge")
        .order_by("role", "user__username")
    )


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


def team_of(*, user: User, challenge: "Challenge | int") -> Team | None:
    """The user's team in the challenge, or None when they compete alone (or are anonymous)."""
    if not user.is_authenticated:
        return None
    membership = TeamMembership.objects.filter(user=user, challenge=challenge).select_related("team").first()
    return None if membership is None else membership.team


def team_list(*, challenge: "Challenge | int") -> QuerySet[Team]:
    """The challenge's teams by name, each with ``member_count``."""
    return (
        Team.objects.filter(challenge=challenge)
        .annotate(member_count=Count("memberships"))
        .select_related("captain")
        .order_by("name")
    )


def team_member_list(*, team: Team) -> QuerySet[User]:
    """The team's members, in the order they joined."""
    return User.objects.filter(team_memberships__team=team).order_by("team_memberships__joined_at", "pk")


def team_invitation_list_pending(*, team: Team) -> QuerySet[Invitation]:
    """The team's invitations nobody has answered yet, newest first."""
    return team.invitations.filter(status=Invitation.Status.PENDING).order_by("-created_at", "-pk")


def invitation_get(*, token: str) -> Invitation:
    """The invitation with this token, with its team and challenge; ``Invitation.DoesNotExist`` otherwise."""
    return Invitation.objects.select_related("team__challenge", "invited_by").get(token=token)


def invitation_is_for(*, invitation: Invitation, user: User) -> bool:
    """Whether the user may answer the invitation: one sent by link is anybody's, one sent by e-mail is
    its address's owner's."""
    return invitation.email == "" or invitation.email.lower() == user.email.lower()


def invitation_closed_sentence(*, invitation: Invitation) -> str | None:
    """Why the invitation can no longer be answered, or None while it is pending: a withdrawn one names
    the team that withdrew it, so whoever holds its link knows whom to ask for a new one."""
    if invitation.status == Invitation.Status.PENDING:
        return None
    if invitation.status == Invitation.Status.WITHDRAWN:
        return f"{invitation.team.name} withdrew this invitation: ask its members for a new one."
    return f"This invitation was {invitation.get_status_display().lower()} already."


def team_freeze_time(*, challenge: "Challenge") -> datetime.datetime | None:
    """When the challenge's teams froze: the earliest team freeze date of its phases that has passed, or
    None while none has."""
    phase = challenge.phases.filter(team_freeze_at__lte=timezone.now()).order_by("team_freeze_at").first()
    return None if phase is None else phase.team_freeze_at


def team_freeze_upcoming(*, challenge: "Challenge") -> datetime.datetime | None:
    """When the challenge's teams will freeze: the earliest team freeze date of its phases still to come,
    or None when none is set (or the teams are frozen already)."""
    if team_freeze_time(challenge=challenge) is not None:
        return None
    phase = challenge.phases.filter(team_freeze_at__gt=timezone.now()).order_by("team_freeze_at").first()
    return None if phase is None else phase.team_freeze_at


def team_freeze_sentence(*, challenge: "Challenge") -> str | None:
    """Why no team of the challenge may change its members now, or None while they may."""
    frozen_at = team_freeze_time(challenge=challenge)
    if frozen_at is None:
        return None
    return (
        f"The teams of {challenge.title} were frozen on {frozen_at.astimezone(datetime.UTC):%Y-%m-%d %H:%M} "
        "UTC: nobody creates, joins or leaves a team of it any more, and no member is removed."
    )


def participation_request_of(*, user: User, challenge: "Challenge | int") -> ParticipationRequest | None:
    """The user's request to take part in the challenge, whatever its status, or None (or anonymous)."""
    if not user.is_authenticated:
        return None
    return ParticipationRequest.objects.filter(user=user, challenge=challenge).first()


def participation_request_get(*, challenge: "Challenge | int", pk: int) -> ParticipationRequest | None:
    """The challenge's request to take part ``pk``, whatever its status (deciding one twice is answered by
    the service's sentence, not a missing page), or None."""
    return ParticipationRequest.objects.filter(challenge=challenge, pk=pk).select_related("user").first()


def participation_request_list(*, challenge: "Challenge | int") -> QuerySet[ParticipationRequest]:
    """The challenge's requests to take part that are waiting or were rejected, with their users: the
    waiting ones first, oldest first (an approved one is a participant, listed as such)."""
    return (
        ParticipationRequest.objects.filter(challenge=challenge)
        .exclude(status=ParticipationRequest.Status.APPROVED)
        .select_related("user", "decided_by")
        .order_by("status", "created_at")
    )


def participation_request_sentence(*, participation_request: ParticipationRequest) -> str | None:
    """What the person reads on the challenge's page about their request: waiting, or rejected with the
    organizers' reason; None once approved (they take part)."""
    if participation_request.status == ParticipationRequest.Status.PENDING:
        return "Your request to take part is waiting for the organizers' approval."
    if participation_request.status == ParticipationRequest.Status.REJECTED:
        reason = participation_request.reason.strip()
        return "The organizers declined your request to take part" + (f": {reason}" if reason else ".")
    return None
