"""The organizer's dashboard of a challenge: one page linking everything an organizer runs in it (the
challenge and its people, phases, data, submissions, leaderboards, reader studies and annotation
campaigns), each link to the page of the app that owns it."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from portal.accounts.models import ChallengeRole
from portal.annotations.selectors import annotation_campaign_list_organized_by
from portal.challenges.selectors import phase_list
from portal.organizers.views.access import challenge_organized_or_refused
from portal.readerstudies.selectors import reader_study_list_organized_by


@login_required
@require_safe
def dashboard_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Everything an organizer runs in the challenge, one link each."""
    challenge = challenge_organized_or_refused(request, slug)
    roles = challenge.roles.values_list("role", flat=True)
    context = {
        "challenge": challenge,
        "phases": phase_list(challenge=challenge),
        "datasets": challenge.datasets.order_by("slug"),
        "studies": reader_study_list_organized_by(user=request.user).filter(challenge=challenge),
        "campaigns": annotation_campaign_list_organized_by(user=request.user).filter(challenge=challenge),
        "organizer_count": sum(role == ChallengeRole.Role.ORGANIZER for role in roles),
        "reader_count": sum(role == ChallengeRole.Role.READER for role in roles),
        "participant_count": sum(role == ChallengeRole.Role.PARTICIPANT for role in roles),
    }
    return render(request, "organizers/dashboard.html", context)
