"""Pages listing challenges and showing one, and the button to join one."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal.accounts.models import ChallengeRole
from portal.accounts.selectors import roles_make_organizer, user_roles
from portal.accounts.services import challenge_join
from portal.challenges.models import Challenge
from portal.challenges.selectors import challenge_get_visible_to, challenge_list_visible_to, phase_list


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
    context = {
        "challenge": challenge,
        "phases": phase_list(challenge=challenge),
        "datasets": challenge.datasets.order_by("slug"),
        "role_labels": role_labels,
        "is_organizer": roles_make_organizer(roles=roles),
        "can_join": request.user.is_authenticated and challenge.is_public and not roles,
        "paragraphs": [part.strip() for part in challenge.description.split("\n\n") if part.strip()],
    }
    return render(request, "challenges/challenge_detail.html", context)


@login_required
@require_POST
def challenge_join_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Join a public challenge as a participant."""
    challenge = _challenge_or_404(request, slug)
    try:
        challenge_join(challenge=challenge, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"You take part in {challenge.title}.")
    return redirect("challenge-detail", slug=challenge.slug)
