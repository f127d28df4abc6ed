"""Everything that can happen to users, their API tokens, teams and challenge roles."""

from typing import TYPE_CHECKING

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from portal.accounts.models import ChallengeRole, Team, TeamMembership, User
from portal.accounts.selectors import challenge_role_conflict

if TYPE_CHECKING:
    # For annotations only: challenges sit above accounts, which never imports them at run time.
    from portal.challenges.models import Challenge


def user_create(*, username: str, email: str, password: str) -> User:
    """Register a new user with a unique username and email and a password that passes the validators.

    Raises ``ValidationError`` keyed by field (``username``, ``email``, ``password``) with sentences a
    person can act on.
    """
    user = User(username=username, email=User.objects.normalize_email(email))
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from error
    user.set_password(password)
    user.save()
    return user


def token_get_or_create(*, user: User) -> Token:
    """Return the user's API token, creating it on first use."""
    token, _ = Token.objects.get_or_create(user=user)
    return token


@transaction.atomic
def token_regenerate(*, user: User) -> Token:
    """Replace the user's API token with a new one; the old key stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def challenge_role_grant(
    *, user: User, challenge: "Challenge", role: ChallengeRole.Role | str
) -> ChallengeRole:
    """Give the user ``role`` in the challenge, keeping one person on one side; granting twice changes
    nothing.

    Someone who takes part (a participant, or a member of a team) is never made an organizer or expert
    reader, and an organizer or expert reader never takes part: either would let hidden data reach a
    participant. Raises ``ValidationError`` (code ``other_side``) with the sentence to show. The user's row
    is locked first, so two grants of opposite sides cannot both pass.
    """
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        existing = ChallengeRole.objects.filter(user=user, challenge=challenge, role=role).first()
        if existing is not None:
            return existing
        conflict = challenge_role_conflict(user=user, challenge=challenge, role=role)
        if conflict is not None:
            raise ValidationError(conflict, code="other_side")
        return ChallengeRole.objects.create(user=user, challenge=challenge, role=role)


def challenge_join(*, challenge: "Challenge", user: User) -> ChallengeRole:
    """Make the user a participant of a public challenge. Joining twice changes nothing.

    Organizers and expert readers of the challenge cannot take part in it (``challenge_role_grant``);
    hidden challenges are joined only by invitation (an organizer adds the role).
    """
    participant = ChallengeRole.objects.filter(
        user=user, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT
    ).first()
    if participant is not None:
        return participant
    if not challenge.is_public:
        raise ValidationError("This challenge is by invitation only: ask its organizers to add you.")
    return challenge_role_grant(user=user, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT)


@transaction.atomic
def team_create(*, challenge: "Challenge", name: str, creator: User) -> Team:
    """Create a team in the challenge with its creator as first member.

    The creator must be a participant of the challenge and in no other team of it; the name must be new
    in the challenge.
    """
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the team a name."})
    if not ChallengeRole.objects.filter(
        user=creator, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT
    ).exists():
        raise ValidationError("Join the challenge before you create a team in it.")
    if TeamMembership.objects.filter(user=creator, challenge=challenge).exists():
        raise ValidationError("You are already in a team of this challenge; leave it first.")
    if Team.objects.filter(challenge=challenge, name__iexact=name).exists():
        raise ValidationError({"name": f"A team called {name!r} already exists in this challenge."})
    try:
        with transaction.atomic():
            team = Team.objects.create(challenge=challenge, name=name)
            TeamMembership.objects.create(team=team, user=creator, challenge=challenge)
    except IntegrityError as error:
        raise ValidationError(
            "Someone created the same team or membership a moment ago; try again."
        ) from error
    return team
