"""Everything that can happen to users, their API tokens, teams, invitations and challenge roles.

A team's rules: a participant creates it and is its captain; any member invites others, by e-mail or by
a link; the captain withdraws an invitation nobody answered yet; the invited participant accepts (joining
the challenge if it is public) or declines; a member leaves; the captain removes a member or hands the
captaincy on. Nobody who organizes or reads the challenge's hidden cases is invited or joins, and once
the challenge's teams are frozen (``selectors.team_freeze_sentence``) nobody creates, joins or leaves
one. Each refusal is a ``PortalError`` with a code, or ``PermissionDenied`` for a member who may not do
what they asked.

Where a challenge's organizers approve participants (``Challenge.participant_approval``), joining it makes
a ``ParticipationRequest`` instead of the participant role; an organizer approves it (the role is granted
then, still one person on one side) or rejects it, with a reason the person is e-mailed.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from allauth.account.models import EmailAddress
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from portal.accounts.models import (
    ChallengeRole,
    Invitation,
    ParticipationRequest,
    Team,
    TeamMembership,
    User,
)
from portal.accounts.selectors import (
    challenge_role_conflict,
    invitation_closed_sentence,
    invitation_is_for,
    participation_request_sentence,
    team_freeze_sentence,
    user_find,
    user_is_inside,
    user_is_organizer,
)
from portal.errors import PortalError

if TYPE_CHECKING:
    # For annotations only: challenges sit above accounts, which never imports them at run time.
    from portal.challenges.models import Challenge


def email_address_mark_verified(*, user: User) -> None:
    """Record the user's e-mail address as confirmed without the e-mail round trip: for accounts the
    operator vouches for (the demo's), never for an address a person typed in."""
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )


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


def challenge_join(*, challenge: "Challenge", user: User) -> ChallengeRole | ParticipationRequest:
    """Make the user a participant of a public challenge, or, where its organizers approve participants,
    ask them to: the ``ParticipationRequest`` waits for an organizer's decision
    (``participation_request_decide``). Joining twice changes nothing.

    Organizers and expert readers of the challenge cannot take part in it (``ValidationError``, code
    ``other_side``); hidden challenges are joined only by invitation (an organizer adds the role); someone
    whose request was rejected is told so again (``PortalError``, code ``request_rejected``).
    """
    participant = ChallengeRole.objects.filter(
        user=user, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT
    ).first()
    if participant is not None:
        return participant
    if not challenge.is_public:
        raise ValidationError("This challenge is by invitation only: ask its organizers to add you.")
    if not challenge.participant_approval:
        return challenge_role_grant(user=user, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT)
    conflict = challenge_role_conflict(user=user, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT)
    if conflict is not None:
        raise ValidationError(conflict, code="other_side")
    request, _ = ParticipationRequest.objects.get_or_create(user=user, challenge=challenge)
    if request.status == ParticipationRequest.Status.REJECTED:
        raise PortalError(
            participation_request_sentence(participation_request=request) or "", code="request_rejected"
        )
    return request


def participation_request_decide(
    *, participation_request: ParticipationRequest, approve: bool, reason: str, by: User
) -> ParticipationRequest:
    """An organizer of the request's challenge (``by``; ``PermissionDenied`` for anyone else) approves the
    waiting request, making its person a participant, or rejects it; either way the person is e-mailed the
    decision with ``reason`` (which may be empty).

    A rejected request may still be approved (the person answered the reason, or it was a mistake); any
    other decision of a request decided already is refused (``PortalError``, code ``decided``). Approving
    someone who has since become an organizer or expert reader is refused by ``challenge_role_grant``
    (``ValidationError``, code ``other_side``).
    """
    challenge = participation_request.challenge
    if not user_is_organizer(user=by, challenge=challenge):
        raise PermissionDenied("Only an organizer of this challenge decides who takes part in it.")
    with transaction.atomic():
        request = ParticipationRequest.objects.select_for_update().get(pk=participation_request.pk)
        status = ParticipationRequest.Status
        if request.status == status.APPROVED or (request.status == status.REJECTED and not approve):
            raise PortalError(
                f"{request.user.username}'s request was {request.get_status_display().lower()} already.",
                code="decided",
            )
        if approve:
            challenge_role_grant(user=request.user, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT)
        request.status = status.APPROVED if approve else status.REJECTED
        request.decided_by = by
        request.decided_at = timezone.now()
        request.reason = reason.strip()
        request.save(update_fields=["status", "decided_by", "decided_at", "reason"])
    decision = "approved" if approve else "declined"
    body = f"The organizers of {challenge.title} {decision} your request to take part."
    if request.reason:
        body += f"\n\nTheir reason: {request.reason}"
    if approve:
        body += "\n\nYou may now download its data and submit."
    subject = f"{challenge.title}: your request to take part was {decision}"
    send_mail(subject, body, None, [request.user.email])
    return request


def challenge_person_add(
    *, challenge: "Challenge", username_or_email: str, role: ChallengeRole.Role, by: User
) -> ChallengeRole:
    """An organizer (``by``; ``PermissionDenied`` for anyone else) makes the person named by username or
    e-mail address an organizer or an expert reader (who also annotates) of the challenge.

    Raises ``PortalError`` when nobody has that name or address, and ``challenge_role_grant``'s
    ``ValidationError`` (code ``other_side``) when the person takes part in the challenge.
    """
    if not user_is_organizer(user=by, challenge=challenge):
        raise PermissionDenied("Only an organizer of this challenge adds its organizers and readers.")
    if role not in (ChallengeRole.Role.ORGANIZER, ChallengeRole.Role.READER):
        raise PortalError("Organizers add organizers and expert readers; participants join.", code="bad_role")
    user = user_find(username_or_email=username_or_email)
    if user is None:
        raise PortalError(
            f"Nobody has the username or e-mail address {username_or_email.strip()!r}: check it, or ask "
            "them to sign up first.",
            code="no_such_user",
        )
    return challenge_role_grant(user=user, challenge=challenge, role=role)


def challenge_role_remove(*, role: ChallengeRole, by: User) -> None:
    """An organizer of the role's challenge (``by``; ``PermissionDenied`` for anyone else) takes an
    organizer's or expert reader's role away. The challenge's last organizer is never removed: someone
    must be left to run it (``PortalError``, code ``last_organizer``)."""
    challenge = role.challenge
    if not user_is_organizer(user=by, challenge=challenge):
        raise PermissionDenied("Only an organizer of this challenge removes its organizers and readers.")
    if role.role not in (ChallengeRole.Role.ORGANIZER, ChallengeRole.Role.READER):
        raise PortalError("Organizers remove organizers and expert readers only.", code="bad_role")
    with transaction.atomic():
        organizers = list(
            ChallengeRole.objects.select_for_update()
            .filter(challenge=challenge, role=ChallengeRole.Role.ORGANIZER)
            .order_by("pk")
        )
        if role.role == ChallengeRole.Role.ORGANIZER and [row.pk for row in organizers] == [role.pk]:
            who = "You are" if role.user_id == by.pk else f"{role.user} is"
            raise PortalError(
                f"{who} the last organizer of {challenge.title}: add another organizer first, so that "
                "someone is left to run it.",
                code="last_organizer",
            )
        ChallengeRole.objects.filter(pk=role.pk).delete()


def team_create(*, challenge: "Challenge", name: str, creator: User) -> Team:
    """Create a team in the challenge with its creator as first member and captain.

    The creator must be a participant of the challenge and in no other team of it, the challenge's teams
    not frozen, and the name new in the challenge whatever its case. Raises ``PortalError``.
    """
    name = name.strip()
    if not name:
        raise PortalError("Give the team a name.", code="name_missing")
    with transaction.atomic():
        _user_lock(user=creator)
        if not ChallengeRole.objects.filter(
            user=creator, challenge=challenge, role=ChallengeRole.Role.PARTICIPANT
        ).exists():
            raise PortalError("Join the challenge before you create a team in it.", code="not_participant")
        _teams_not_frozen(challenge=challenge)
        _in_no_team(user=creator, challenge=challenge)
        if Team.objects.filter(challenge=challenge, name__iexact=name).exists():
            raise _name_taken(name)
        try:
            with transaction.atomic():
                team = Team.objects.create(challenge=challenge, name=name, captain=creator)
                TeamMembership.objects.create(team=team, user=creator, challenge=challenge)
        except IntegrityError as error:
            raise _name_taken(name) from error
    return team


def team_invite(
    *, team: Team, invited_by: User, email: str = "", invitation_url: Callable[[str], str]
) -> Invitation:
    """Invite someone to the team: the owner of ``email`` (who gets an e-mail with the link), or, without
    an address, whoever opens the link first.

    ``invitation_url`` turns a token into the absolute URL of the invitation's page. Only members invite,
    and not once the teams are frozen; an organizer or expert reader of the challenge, or a member of the
    team, is never invited. Inviting the same address again sends the same invitation again.
    """
    challenge = team.challenge
    if not TeamMembership.objects.filter(team=team, user=invited_by).exists():
        raise PermissionDenied(f"Only members of {team.name} invite others to it.")
    _teams_not_frozen(challenge=challenge)
    email = User.objects.normalize_email(email.strip())
    if email:
        try:
            validate_email(email)
        except ValidationError as error:
            raise PortalError(f"{email!r} is not an e-mail address.", code="invalid_email") from error
        invitee = User.objects.filter(email__iexact=email).first()
        if invitee is not None:
            _may_be_invited(team=team, user=invitee)
    invitation = None
    if email:
        invitation = team.invitations.filter(status=Invitation.Status.PENDING, email__iexact=email).first()
    if invitation is None:
        invitation = Invitation.objects.create(team=team, email=email, invited_by=invited_by)
    if email:
        send_mail(
            f"{invited_by.username} invites you to the team {team.name} in {challenge.title}",
            f"{invited_by.username} invites you to join the team {team.name} in {challenge.title}.\n"
            f"Accept or decline the invitation here: {invitation_url(invitation.token)}",
            None,
            [email],
        )
    return invitation


def invitation_accept(*, token: str, user: User) -> TeamMembership:
    """Join the invitation's team: the user becomes one of its members and the invitation is spent.

    The user must be the one it was sent to (or hold its link), in no team of the challenge, neither an
    organizer nor an expert reader of it, and the teams not frozen; a user who does not take part yet
    joins the challenge if it is public. Raises ``Invitation.DoesNotExist`` for an unknown token and
    ``PortalError`` otherwise. The user's row and the team's are locked, so the team's submission
    limits are counted on the members it has.
    """
    with transaction.atomic():
        _user_lock(user=user)
        invitation = _invitation_lock_answerable(token=token, user=user)
        team = invitation.team
        challenge = team.challenge
        _teams_not_frozen(challenge=challenge)
        _may_be_invited(team=team, user=user)
        _in_no_team(user=user, challenge=challenge)
        if isinstance(challenge_join(challenge=challenge, user=user), ParticipationRequest):
            raise PortalError(
                f"{challenge.title} admits participants with its organizers' approval: ask to take part "
                "on its page, and accept this invitation once they approve.",
                code="approval_pending",
            )
        Team.objects.select_for_update().filter(pk=team.pk).first()
        membership = TeamMembership.objects.create(team=team, user=user, challenge=challenge)
        _invitation_answer(invitation=invitation, user=user, status=Invitation.Status.ACCEPTED)
    return membership


def invitation_decline(*, token: str, user: User) -> Invitation:
    """Decline the invitation: it can no longer be accepted. Only the one it was sent to (or a holder of
    its link) declines it. Raises ``Invitation.DoesNotExist`` or ``PortalError``."""
    with transaction.atomic():
        invitation = _invitation_lock_answerable(token=token, user=user)
        _invitation_answer(invitation=invitation, user=user, status=Invitation.Status.DECLINED)
    return invitation


def invitation_withdraw(*, team: Team, token: str, by: User) -> Invitation:
    """Withdraw one of the team's pending invitations: its link then says so and can no longer be accepted.

    The captain's decision (``PermissionDenied`` for anyone else); ``Invitation.DoesNotExist`` for a token
    that is not one of the team's, ``PortalError`` (code ``answered``) once it was answered. Membership
    does not change, so a frozen team may withdraw an invitation.
    """
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        if team.captain_id != by.pk:
            raise PermissionDenied(f"Only the captain of {team.name} withdraws its invitations.")
        invitation = team.invitations.select_for_update().get(token=token)
        _invitation_pending(invitation=invitation)
        invitation.status = Invitation.Status.WITHDRAWN
        invitation.answered_at = timezone.now()
        invitation.save(update_fields=["status", "answered_at"])
    return invitation


def team_leave(*, challenge: "Challenge", user: User) -> Team:
    """Leave one's team in the challenge, and compete alone from then on.

    A captain hands the captaincy on first unless they are the last member; the last member's leaving
    withdraws the team's pending invitations (the team stays, with its submissions). Refused once the
    teams are frozen. Returns the team left.
    """
    with transaction.atomic():
        membership = (
            TeamMembership.objects.select_related("team").filter(user=user, challenge=challenge).first()
        )
        if membership is None:
            raise PortalError("You are in no team of this challenge.", code="not_member")
        team = Team.objects.select_for_update().get(pk=membership.team_id)
        _teams_not_frozen(challenge=challenge)
        others = team.memberships.exclude(user=user)
        if team.captain_id == user.pk and others.exists():
            raise PortalError(
                f"You are the captain of {team.name}: hand the captaincy to another member before you leave.",
                code="captain_leaves",
            )
        membership.delete()
        if not others.exists():
            team.captain = None
            team.save(update_fields=["captain"])
            team.invitations.filter(status=Invitation.Status.PENDING).update(
                status=Invitation.Status.WITHDRAWN, answered_at=timezone.now()
            )
    return team


def team_member_remove(*, team: Team, member: User, removed_by: User) -> None:
    """Remove a member from the team: its captain's decision, refused once the teams are frozen.

    Raises ``PermissionDenied`` for anyone but the captain, ``PortalError`` for the captain themself
    (they leave instead) or someone who is not a member.
    """
    with transaction.atomic():
        team = Team.objects.select_for_update().select_related("challenge").get(pk=team.pk)
        if team.captain_id != removed_by.pk:
            raise PermissionDenied(f"Only the captain of {team.name} removes its members.")
        if member.pk == removed_by.pk:
            raise PortalError(
                "A captain does not remove themself: hand the captaincy on, then leave.",
                code="captain_leaves",
            )
        membership = team.memberships.filter(user=member).first()
        if membership is None:
            raise PortalError(f"{member.username} is not a member of {team.name}.", code="not_member")
        _teams_not_frozen(challenge=team.challenge)
        membership.delete()


def team_captain_hand_over(*, team: Team, to: User, by: User) -> Team:
    """Make another member the team's captain: its captain's decision (``PermissionDenied`` for anyone
    else; ``PortalError`` when ``to`` is not a member). Membership does not change, so a frozen team may
    change its captain."""
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        if team.captain_id != by.pk:
            raise PermissionDenied(f"Only the captain of {team.name} hands the captaincy on.")
        if not team.memberships.filter(user=to).exists():
            raise PortalError(f"{to.username} is not a member of {team.name}.", code="not_member")
        team.captain = to
        team.save(update_fields=["captain"])
    return team


def _user_lock(*, user: User) -> None:
    """Lock the user's row: their roles and teams in a challenge change one at a time."""
    User.objects.select_for_update().filter(pk=user.pk).first()


def _teams_not_frozen(*, challenge: "Challenge") -> None:
    frozen = team_freeze_sentence(challenge=challenge)
    if frozen is not None:
        raise PortalError(frozen, code="teams_frozen")


def _in_no_team(*, user: User, challenge: "Challenge") -> None:
    membership = TeamMembership.objects.filter(user=user, challenge=challenge).select_related("team").first()
    if membership is not None:
        raise PortalError(
            f"You are already in the team {membership.team.name} of this challenge; leave it first.",
            code="already_in_team",
        )


def _may_be_invited(*, team: Team, user: User) -> None:
    """Refuse an organizer or expert reader of the team's challenge, or a member of the team."""
    if user_is_inside(user=user, challenge=team.challenge_id):
        raise PortalError(
            "Organizers and expert readers of a challenge see its hidden data, so they never join or are "
            "invited to one of its teams.",
            code="other_side",
        )
    if team.memberships.filter(user=user).exists():
        raise PortalError(f"{user.username} is already a member of {team.name}.", code="already_member")


def _invitation_lock_answerable(*, token: str, user: User) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update(of=("self",)).select_related("team__challenge").get(token=token)
    )
    _invitation_pending(invitation=invitation)
    if not invitation_is_for(invitation=invitation, user=user):
        raise PortalError(
            "This invitation was sent to another e-mail address: ask the team to invite the address of "
            "your account.",
            code="not_yours",
        )
    return invitation


def _invitation_answer(*, invitation: Invitation, user: User, status: Invitation.Status) -> None:
    invitation.status = status
    invitation.answered_by = user
    invitation.answered_at = timezone.now()
    invitation.save(update_fields=["status", "answered_by", "answered_at"])


def _invitation_pending(*, invitation: Invitation) -> None:
    closed = invitation_closed_sentence(invitation=invitation)
    if closed is not None:
        raise PortalError(closed, code="answered")


def _name_taken(name: str) -> PortalError:
    return PortalError(f"A team called {name!r} already exists in this challenge.", code="name_taken")
