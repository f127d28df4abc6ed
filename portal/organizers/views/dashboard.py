"""The organizer's dashboard of a challenge: one page linking everything an organizer runs in it (the
challenge and its people, phases, data, submissions, leaderboards, reader studies and annotation
campaigns), each link to the page of the app that owns it, and the job queue of each algorithm phase."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from portal.accounts.models import ChallengeRole
from portal.algorithms.selectors import phase_job_queues
from portal.annotations.selectors import annotation_campaign_list_organized_by
from portal.challenges.models import Phase
from portal.challenges.selectors import phase_list
from portal.organizers.views.access import challenge_organized_or_refused
from portal.readerstudies.selectors import reader_study_list_organized_by


@login_required
@require_safe
def dashboard_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Everything an organizer runs in the challenge, one link each; each algorithm phase with its jobs
    waiting and running and how long they waited (``phase_job_queues``)."""
    challenge = challenge_organized_or_refused(request, slug)
    roles = challenge.roles.values_list("role", flat=True)
    phases = list(phase_list(challenge=challenge))
    queues = phase_job_queues(
        phase_ids=[phase.pk for phase in phases if phase.submission_kind == Phase.SubmissionKind.ALGORITHM]
    )
    context = {
        "challenge": challenge,
        "phases": [(phase, queues.get(phase.pk)) for phase in phases],
        "datasets": challenge.datasets.order_by("slug"),
        "studies": reader_study_list_organized_by(user=request.user).filter(challenge=challenge),
        "campaigns": annotation_campaign_list_organized_by(user=request.user).filter(challenge=challenge),
        "organizer_count": sum(role == ChallengeRole.Role.ORGANIZER for role in roles),
        "reader_count": sum(role == ChallengeRole.Role.READER for role in roles),
        "participant_count": sum(role == ChallengeRole.Role.PARTICIPANT for role in roles),
    }
    return render(request, "organizers/dashboard.html", context)
