"""Pages listing challenges and showing one, the button to join one, and the team pages: one's team in
the challenge (create, invite, withdraw an invitation, leave, remove a member, hand the captaincy on)
and an invitation's page.

A refusal a person can act on comes back as a message on the team page; a member who may not do what
they asked (only the captain removes) gets a 403.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from portal.accounts import services as account_services
from portal.accounts.models import ChallengeRole, Invitation, ParticipationRequest, Team, User
from portal.accounts.selectors import (
    invitation_closed_sentence,
    invitation_get,
    invitation_is_for,
    participation_request_of,
    participation_request_sentence,
    roles_make_organizer,
    team_freeze_sentence,
    team_freeze_upcoming,
    team_invitation_list_pending,
    team_member_list,
    team_of,
    user_roles,
)
from portal.accounts.services import challenge_join
from portal.challenges.forms import TeamCaptainForm, TeamCreateForm, TeamInviteForm
from portal.challenges.models import Challenge
from portal.challenges.selectors import (
    announcement_list,
    challenge_get_visible_to,
    challenge_list_visible_to,
    phase_list,
)

ANNOUNCEMENTS_SHOWN = 3
"""How many of the latest announcements the challenge's page shows."""


def _challenge_or_404(request: HttpRequest, slug: str) -> Challenge:
    try:
        return challenge_get_visible_to(user=request.user, slug=slug)
    except Challenge.DoesNotExist as error:
        raise Http404("No such challenge.") from error


def challenge_list(request: HttpRequest) -> HttpResponse:
    """Public challenges and those the user is part of."""
    challenges = challenge_list_visible_to(user=request.user)
    return render(request, "challenges/challenge_list.html", {"challenges": challenges})


def challenge_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A challenge: its description, phases and what the user is in it."""
    challenge = _challenge_or_404(request, slug)
    roles = user_roles(user=request.user, challenge=challenge)
    role_labels = [label for value, label in ChallengeRole.Role.choices if value in roles]
    request_to_take_part = None if roles else participation_request_of(user=request.user, challenge=challenge)
    request_sentence = request_to_take_part and participation_request_sentence(
        participation_request=request_to_take_part
    )
    context = {
        "challenge": challenge,
        "phases": phase_list(challenge=challenge),
        "datasets": challenge.datasets.order_by("slug"),
        "role_labels": role_labels,
        "is_organizer": roles_make_organizer(roles=roles),
        "can_join": request.user.is_authenticated
        and challenge.is_public
        and not roles
        and not request_sentence,
        "participation_request_sentence": request_sentence,
        "is_participant": ChallengeRole.Role.PARTICIPANT in roles,
        "team": team_of(user=request.user, challenge=challenge),
        "announcements": announcement_list(challenge=challenge)[:ANNOUNCEMENTS_SHOWN],
    }
    return render(request, "challenges/challenge_detail.html", context)


@login_required
@require_POST
def challenge_join_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Join a public challenge as a participant, or ask its organizers to approve it."""
    challenge = _challenge_or_404(request, slug)
    try:
        joined = challenge_join(challenge=challenge, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if isinstance(joined, ParticipationRequest):
            messages.info(request, participation_request_sentence(participation_request=joined) or "")
        else:
            messages.success(request, f"You take part in {challenge.title}.")
    return redirect("challenge-detail", slug=challenge.slug)


def invitation_url_builder(request: HttpRequest, challenge: Challenge) -> Callable[[str], str]:
    """What turns an invitation's token into the absolute URL of its page, for the e-mail and the API."""

    def invitation_url(token: str) -> str:
        path = reverse("team-invitation", kwargs={"slug": challenge.slug, "token": token})
        return request.build_absolute_uri(path)

    return invitation_url


@login_required
@require_safe
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The user's team in the challenge (members, captain, open invitations, the forms to change it), or
    the form to create one for a participant who competes under their own name."""
    challenge = _challenge_or_404(request, slug)
    roles = user_roles(user=request.user, challenge=challenge)
    team = team_of(user=request.user, challenge=challenge)
    link = invitation_url_builder(request, challenge)
    context = {
        "challenge": challenge,
        "team": team,
        "is_participant": ChallengeRole.Role.PARTICIPANT in roles,
        "is_captain": team is not None and team.captain_id == request.user.pk,
        "members": team_member_list(team=team) if team is not None else (),
        "invitations": (
            [(invitation, link(invitation.token)) for invitation in team_invitation_list_pending(team=team)]
            if team is not None
            else ()
        ),
        "frozen": team_freeze_sentence(challenge=challenge),
        "freezes_at": team_freeze_upcoming(challenge=challenge),
        "create_form": TeamCreateForm(),
        "invite_form": TeamInviteForm(),
    }
    return render(request, "challenges/team_detail.html", context)


@login_required
@require_POST
def team_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Create a team with the user as captain."""
    challenge = _challenge_or_404(request, slug)
    form = TeamCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("name", ["Give the team a name."])))
        return _to_team_page(challenge)
    with _refusal_as_message(request):
        team = account_services.team_create(
            challenge=challenge, name=form.cleaned_data["name"], creator=request.user
        )
        messages.success(request, f"You created {team.name}; invite the others from here.")
    return _to_team_page(challenge)


@login_required
@require_POST
def team_invite_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Invite someone to the user's team, by e-mail or by a link shown on the team page."""
    challenge = _challenge_or_404(request, slug)
    form = TeamInviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("email", ["Give an e-mail address."])))
        return _to_team_page(challenge)
    with _refusal_as_message(request):
        invitation = account_services.team_invite(
            team=_team_of_or_refuse(request, challenge),
            invited_by=request.user,
            email=form.cleaned_data["email"],
            invitation_url=invitation_url_builder(request, challenge),
        )
        if invitation.email:
            messages.success(request, f"An invitation was sent to {invitation.email}.")
        else:
            messages.success(request, "A new invitation link is listed below: pass it on to one person.")
    return _to_team_page(challenge)


@login_required
@require_POST
def team_invitation_withdraw_view(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """Withdraw one of the user's team's open invitations (its captain only: anyone else gets a 403)."""
    challenge = _challenge_or_404(request, slug)
    with _refusal_as_message(request):
        team = _team_of_or_refuse(request, challenge)
        try:
            invitation = account_services.invitation_withdraw(team=team, token=token, by=request.user)
        except Invitation.DoesNotExist as error:
            raise Http404("No such invitation.") from error
        addressee = f"to {invitation.email}" if invitation.email else "by link"
        messages.success(request, f"You withdrew the invitation {addressee}: its link no longer works.")
    return _to_team_page(challenge)


@login_required
@require_POST
def team_leave_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Leave the user's team; they compete under their own name afterwards."""
    challenge = _challenge_or_404(request, slug)
    with _refusal_as_message(request):
        team = account_services.team_leave(challenge=challenge, user=request.user)
        messages.success(request, f"You left {team.name}; you now compete under your own name.")
    return _to_team_page(challenge)


@login_required
@require_POST
def team_member_remove_view(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    """Remove a member from the user's team (its captain only: anyone else gets a 403)."""
    challenge = _challenge_or_404(request, slug)
    with _refusal_as_message(request):
        team = _team_of_or_refuse(request, challenge)
        member = User.objects.filter(pk=user_id).first()
        if member is None:
            raise ValidationError(f"Nobody with the id {user_id} is a member of {team.name}.")
        account_services.team_member_remove(team=team, member=member, removed_by=request.user)
        messages.success(request, f"{member.username} is no longer a member of {team.name}.")
    return _to_team_page(challenge)


@login_required
@require_POST
def team_captain_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Hand the captaincy of the user's team to another member (its captain only)."""
    challenge = _challenge_or_404(request, slug)
    form = TeamCaptainForm(request.POST)
    with _refusal_as_message(request):
        team = _team_of_or_refuse(request, challenge)
        member = User.objects.filter(pk=form.cleaned_data["member"]).first() if form.is_valid() else None
        if member is None:
            raise ValidationError(f"Choose a member of {team.name}.")
        account_services.team_captain_hand_over(team=team, to=member, by=request.user)
        messages.success(request, f"{member.username} is now the captain of {team.name}.")
    return _to_team_page(challenge)


@login_required
def team_invitation(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """An invitation's page: whose team it is, and the buttons to accept or decline it (POST ``answer``)."""
    challenge = _challenge_or_404(request, slug)
    try:
        invitation = invitation_get(token=token)
    except Invitation.DoesNotExist as error:
        raise Http404("No such invitation.") from error
    if invitation.team.challenge_id != challenge.pk:
        raise Http404("No such invitation.")
    if request.method == "POST":
        return _invitation_answer(request, challenge, token)
    context = {
        "challenge": challenge,
        "invitation": invitation,
        "closed": invitation_closed_sentence(invitation=invitation),
        "is_for_user": invitation_is_for(invitation=invitation, user=request.user),
        "team": team_of(user=request.user, challenge=challenge),
    }
    return render(request, "challenges/team_invitation.html", context)


def _invitation_answer(request: HttpRequest, challenge: Challenge, token: str) -> HttpResponse:
    answer = request.POST.get("answer")
    with _refusal_as_message(request):
        if answer == "accept":
            membership = account_services.invitation_accept(token=token, user=request.user)
            messages.success(request, f"You joined {membership.team.name}.")
            return _to_team_page(challenge)
        if answer == "decline":
            account_services.invitation_decline(token=token, user=request.user)
            messages.success(request, "You declined the invitation.")
            return _to_team_page(challenge)
        raise ValidationError("Accept or decline the invitation.")
    return redirect("team-invitation", slug=challenge.slug, token=token)


def _team_of_or_refuse(request: HttpRequest, challenge: Challenge) -> Team:
    team = team_of(user=request.user, challenge=challenge)
    if team is None:
        raise ValidationError("You are in no team of this challenge.", code="not_member")
    return team


def _to_team_page(challenge: Challenge) -> HttpResponse:
    return redirect("team-detail", slug=challenge.slug)


@contextmanager
def _refusal_as_message(request: HttpRequest) -> Iterator[None]:
    """Turn a refusal (``ValidationError``, ``PortalError`` among them) into an error message."""
    try:
        yield
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
