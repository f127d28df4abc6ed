"""Submission pages: a phase's upload form and its submissions, one submission, cancel and final choice.

A submission the user may not see is a 404, so nobody learns that another team's submission exists.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal.accounts.models import ChallengeRole
from portal.accounts.selectors import user_roles
from portal.challenges.models import Phase
from portal.submissions import selectors, services
from portal.submissions.forms import SubmissionUploadForm
from portal.submissions.models import Submission


def _phase_or_404(request: HttpRequest, slug: str) -> Phase:
    try:
        return selectors.phase_get_for_submissions(user=request.user, slug=slug)
    except Phase.DoesNotExist as error:
        raise Http404("No such phase.") from error


def _submission_or_404(request: HttpRequest, pk: int) -> Submission:
    try:
        return selectors.submission_get_visible_to(user=request.user, submission_id=pk)
    except Submission.DoesNotExist as error:
        raise Http404("No such submission.") from error


@login_required
def phase_submissions(request: HttpRequest, slug: str) -> HttpResponse:
    """The upload form (for participants) and the submissions the user may see in the phase."""
    phase = _phase_or_404(request, slug)
    form = SubmissionUploadForm()
    if request.method == "POST":
        form = SubmissionUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                submission = services.submission_create(
                    phase=phase, user=request.user, upload=form.cleaned_data["file"]
                )
            except ValidationError as refusal:
                form.add_error(None, refusal)
            else:
                messages.success(request, f"Submission {submission.pk} was received; it is checked now.")
                return redirect("phase-submissions", slug=phase.slug)
    roles = user_roles(user=request.user, challenge=phase.challenge)
    submissions = selectors.submission_list_visible_to(user=request.user, phase=phase).prefetch_related(
        "state_changes"
    )
    context = {
        "phase": phase,
        "form": form,
        "can_submit": ChallengeRole.Role.PARTICIPANT in roles
        and phase.submission_kind == Phase.SubmissionKind.PREDICTIONS,
        "is_organizer": ChallengeRole.Role.ORGANIZER in roles,
        "submissions": submissions,
    }
    return render(request, "submissions/phase_submissions.html", context)


@login_required
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A submission: each change of its status, its problems, its means and (where allowed) case scores."""
    submission = _submission_or_404(request, pk)
    visible = selectors.submission_case_results_visible_to(user=request.user, submission=submission)
    context = {
        "submission": submission,
        "state_changes": selectors.submission_state_change_list(submission=submission),
        "case_results_visible": visible,
        "case_results": selectors.submission_case_result_list(submission=submission) if visible else (),
        "is_submitter": selectors.submission_is_submitter(submission=submission, user=request.user),
    }
    return render(request, "submissions/submission_detail.html", context)


@login_required
@require_POST
def submission_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel a pending or checking submission."""
    submission = _submission_or_404(request, pk)
    try:
        services.submission_cancel(submission_id=submission.pk, user=request.user)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, f"Submission {submission.pk} was cancelled; it does not count.")
    return redirect("submission-detail", pk=submission.pk)


@login_required
@require_POST
def submission_select_final_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Make a scored submission the team's final one in its phase."""
    submission = _submission_or_404(request, pk)
    try:
        services.submission_select_final(submission_id=submission.pk, user=request.user)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Submission {submission.pk} is now your final submission.")
    return redirect("submission-detail", pk=submission.pk)
