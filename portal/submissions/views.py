"""Submission pages: a phase's upload form and its submissions, one submission, cancel and final choice,
and the review of a submission's masks against the ground truth in the viewer.

A submission the user may not see is a 404, so nobody learns that another team's submission exists; an
action on one they see but may not take (a team re-queueing or stopping its own, an organizer choosing a
team's final one) is a 403, as in the API. A refusal the person can act on is a message on the page.
"""

import datetime
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST, require_safe

from portal.accounts.models import ChallengeRole
from portal.accounts.selectors import roles_make_organizer, user_is_organizer, user_roles
from portal.challenges.models import Phase
from portal.datasets.models import Case
from portal.datasets.views import client_holds, viewer_image, viewer_render, volume_response
from portal.steps.services import step_is_held
from portal.submissions import selectors, services
from portal.submissions.exceptions import UploadTooLarge
from portal.submissions.forms import SubmissionUploadForm
from portal.submissions.models import Submission
from portal.submissions.publication import (
    phase_counted_submission_sentence,
    submission_case_results_visible_to,
)
from portal.submissions.uploads import upload_guard_install


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


@csrf_exempt  # checked in _phase_submissions_page, once the upload is known to be within the phase's cap
@login_required
def phase_submissions(request: HttpRequest, slug: str) -> HttpResponse:
    """The upload form (for participants) and the submissions the user may see in the phase.

    An upload over the phase's cap is a 413 with its sentence, refused before its body is read (or as
    soon as it passes the cap): Django's CSRF check reads the body, so it comes after the size check.
    """
    phase = _phase_or_404(request, slug)
    try:
        if request.method == "POST":
            upload_guard_install(request, phase=phase)
        return _phase_submissions_page(request, phase)
    except UploadTooLarge as refusal:
        messages.error(request, " ".join(refusal.messages))
        return _phase_submissions_render(request, phase, SubmissionUploadForm(), status=413)


@csrf_protect
def _phase_submissions_page(request: HttpRequest, phase: Phase) -> HttpResponse:
    form = SubmissionUploadForm()
    if request.method == "POST":
        form = SubmissionUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                submission = services.submission_create(
                    phase=phase,
                    user=request.user,
                    upload=form.cleaned_data["file"],
                    check_only=form.cleaned_data["check_only"],
                )
            except ValidationError as refusal:
                form.add_error(None, refusal)
            else:
                received = "Check-only try" if submission.check_only else "Submission"
                messages.success(request, f"{received} {submission.pk} was received; it is checked now.")
                return redirect("phase-submissions", slug=phase.slug)
    return _phase_submissions_render(request, phase, form)


def _phase_submissions_render(
    request: HttpRequest, phase: Phase, form: SubmissionUploadForm, *, status: int = 200
) -> HttpResponse:
    roles = user_roles(user=request.user, challenge=phase.challenge)
    visible = selectors.submission_list_visible_to(user=request.user, phase=phase)
    state = request.GET.get("state", "")
    submissions = selectors.submission_list_in_state(submissions=visible, state=state).prefetch_related(
        "state_changes"
    )
    is_participant = ChallengeRole.Role.PARTICIPANT in roles
    context = {
        "phase": phase,
        "form": form,
        "can_submit": is_participant and phase.submission_kind == Phase.SubmissionKind.PREDICTIONS,
        "is_organizer": roles_make_organizer(roles=roles),
        "team": (
            selectors.submission_team_for(challenge=phase.challenge, user=request.user)
            if is_participant
            else None
        ),
        "submissions": submissions,
        "state": state,
        "state_filters": selectors.submission_state_filters(submissions=visible),
        "check_only_daily_limit": services.CHECK_ONLY_DAILY_LIMIT,
        "ground_truth_switch": selectors.phase_ground_truth_switch_latest(phase=phase),
    }
    return render(request, "submissions/phase_submissions.html", context, status=status)


@login_required
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A submission: each change of its status, its problems, its means and (where allowed) case scores."""
    submission = _submission_or_404(request, pk)
    visible = submission_case_results_visible_to(user=request.user, submission=submission)
    context = {
        "submission": submission,
        "state_changes": selectors.submission_state_change_list(submission=submission),
        "case_results_visible": visible,
        "case_results": selectors.submission_case_result_list(submission=submission) if visible else (),
        "masks_noted": None if visible else selectors.submission_masks_noted_sentence(submission=submission),
        "is_submitter": selectors.submission_is_submitter(submission=submission, user=request.user),
        "counted_submission": phase_counted_submission_sentence(phase=submission.phase),
        "step": _step_view(request=request, submission=submission),
        "status_labels": {"submission": dict(Submission.Status.choices), "job": {}},
    }
    return render(request, "submissions/submission_detail.html", context)


@dataclass(frozen=True)
class StepView:
    """What an organizer sees of a submission's current step."""

    claimed_by: str
    heartbeat_at: datetime.datetime | None
    held: bool


def _step_view(*, request: HttpRequest, submission: Submission) -> StepView | None:
    """The submission's current step, for an organizer of its challenge while its steps have not ended."""
    if submission.status not in services.ACTIVE or not user_is_organizer(
        user=request.user, challenge=submission.phase.challenge_id
    ):
        return None
    return StepView(
        claimed_by=submission.claimed_by, heartbeat_at=submission.heartbeat_at, held=step_is_held(submission)
    )


def _submission_action(
    request: HttpRequest, pk: int, *, action: Callable[[Submission], object], done: str
) -> HttpResponse:
    """One button of the submission page: run ``action`` on the submission the user may see, show the
    service's refusal or ``done`` (``{pk}`` is its id), and go back to the page. A submission the user
    may not see is a 404; an action they may not take on it, a 403 (``PermissionDenied``)."""
    submission = _submission_or_404(request, pk)
    try:
        action(submission)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, done.format(pk=submission.pk))
    return redirect("submission-detail", pk=submission.pk)


@login_required
@require_POST
def submission_requeue_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a stuck submission's current step again (organizers)."""
    return _submission_action(
        request,
        pk,
        action=lambda submission: services.submission_requeue(submission_id=submission.pk, user=request.user),
        done="Submission {pk} was queued again.",
    )


@login_required
@require_POST
def submission_stop_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop a submission with a sentence for its team (organizers)."""
    reason = request.POST.get("reason", "")
    return _submission_action(
        request,
        pk,
        action=lambda submission: services.submission_stop(
            submission_id=submission.pk, user=request.user, reason=reason
        ),
        done="Submission {pk} was stopped; its team reads why.",
    )


@login_required
@require_POST
def submission_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel a pending or checking submission."""
    return _submission_action(
        request,
        pk,
        action=lambda submission: services.submission_cancel(submission_id=submission.pk, user=request.user),
        done="Submission {pk} was cancelled; it does not count.",
    )


@login_required
@require_POST
def submission_select_final_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Make a scored submission the team's final one in its phase."""
    return _submission_action(
        request,
        pk,
        action=lambda submission: services.submission_select_final(
            submission_id=submission.pk, user=request.user
        ),
        done="Submission {pk} is now your final submission.",
    )


def _review_case_or_404(request: HttpRequest, submission: Submission, case_pk: int) -> Case:
    cases = selectors.submission_review_case_list(user=request.user, submission=submission)
    case = cases.prefetch_related("images").filter(pk=case_pk).first()
    if case is None:
        raise Http404("No such case to review.")
    return case


@login_required
@require_safe
def submission_review(request: HttpRequest, pk: int, case_pk: int | None = None) -> HttpResponse:
    """One case of a submission in the viewer: its mask against the ground truth over the case's NCCT."""
    submission = _submission_or_404(request, pk)
    cases = list(selectors.submission_review_case_list(user=request.user, submission=submission))
    if case_pk is None and cases:
        case_pk = cases[0].pk
    case = None if case_pk is None else _review_case_or_404(request, submission, case_pk)
    viewer_data: dict[str, object] = {}
    if case is not None:
        images = sorted(
            case.images.all(),
            key=lambda image: (image.interface != selectors.REFERENCE_INTERFACE, image.interface),
        )
        viewer_data = {
            "base": asdict(viewer_image(image=images[0])) if images else None,
            "overlay": {
                "url": reverse("submission-review-overlap", kwargs={"pk": submission.pk, "case_pk": case.pk}),
                "name": "overlap.nii.gz",
            },
        }
    context = {"submission": submission, "cases": cases, "case": case}
    return viewer_render(request, "viewer/submission_review.html", context, viewer_data=viewer_data)


@login_required
@require_safe
def submission_review_overlap(request: HttpRequest, pk: int, case_pk: int) -> HttpResponse:
    """The overlap label volume of one case (1 TP, 2 FP, 3 FN), or 304 when the client holds it."""
    submission = _submission_or_404(request, pk)
    case = _review_case_or_404(request, submission, case_pk)
    ground_truth = selectors.phase_case_ground_truth(phase=submission.phase, case=case)
    if ground_truth is None:
        raise Http404("No ground truth to compare with.")
    etag = f'"{selectors.submission_case_overlap_key(submission=submission, ground_truth=ground_truth)}"'
    if client_holds(request=request, etag=etag):
        response = HttpResponseNotModified()
    else:
        try:
            content = services.submission_case_overlap_label(submission=submission, case=case)
        except ValueError as error:
            return HttpResponse(str(error), status=422, content_type="text/plain; charset=utf-8")
        response = volume_response(content)
    response["ETag"] = etag
    patch_cache_control(response, private=True, no_cache=True)
    return response
