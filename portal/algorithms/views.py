"""Algorithm pages: a phase's image upload page (the chunks go through the API from the browser), the
jobs of an algorithm submission, with their logs for those allowed to read them, and a validation phase's
re-runs of chosen submissions (organizers only).

A phase or submission the user may not see is a 404.
"""

from collections import Counter

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from portal.accounts.models import ChallengeRole
from portal.accounts.selectors import user_is_organizer, user_roles
from portal.algorithms import selectors, services, validation
from portal.algorithms.models import Job
from portal.challenges.models import Phase
from portal.submissions.models import Submission
from portal.submissions.selectors import phase_get_for_submissions, submission_get_visible_to
from portal.submissions.services import CHECK_ONLY_DAILY_LIMIT


@login_required
@require_safe
def algorithm_upload(request: HttpRequest, slug: str) -> HttpResponse:
    """The page that uploads ``docker save IMAGE | gzip`` to an algorithm phase in resumable chunks."""
    try:
        phase = phase_get_for_submissions(user=request.user, slug=slug)
    except Phase.DoesNotExist as error:
        raise Http404("No such phase.") from error
    roles = user_roles(user=request.user, challenge=phase.challenge)
    is_algorithm_phase = phase.submission_kind == Phase.SubmissionKind.ALGORITHM
    gaps = selectors.phase_cases_missing_inputs(phase=phase) if is_algorithm_phase else []
    context = {
        "phase": phase,
        "settings": selectors.algorithm_settings_get(phase=phase),
        "can_submit": ChallengeRole.Role.PARTICIPANT in roles and is_algorithm_phase,
        "chunk_bytes": services.UPLOAD_CHUNK_BYTES,
        "check_only_daily_limit": CHECK_ONLY_DAILY_LIMIT,
        "is_organizer": user_is_organizer(user=request.user, challenge=phase.challenge),
        "missing_inputs": [gap.sentence for gap in gaps],
        "sanity_case_incomplete": any(gap.is_sanity for gap in gaps),
    }
    return render(request, "algorithms/algorithm_upload.html", context)


@login_required
@require_safe
def algorithm_contract(request: HttpRequest, slug: str) -> HttpResponse:
    """What a phase's container reads and writes, its sandbox and how to reproduce it locally, from the
    same contract table and settings the worker runs it with."""
    try:
        phase = phase_get_for_submissions(user=request.user, slug=slug)
    except Phase.DoesNotExist as error:
        raise Http404("No such phase.") from error
    if phase.submission_kind != Phase.SubmissionKind.ALGORITHM:
        raise Http404("This phase takes predictions, not algorithms.")
    contract = selectors.algorithm_contract(phase=phase, gpu=bool(settings.ISLES_GPU_DEVICE))
    return render(request, "algorithms/algorithm_contract.html", {"phase": phase, "contract": contract})


@login_required
@require_safe
def submission_jobs(request: HttpRequest, pk: int) -> HttpResponse:
    """The jobs of an algorithm submission, the sanity case first, and what its check found; logs where
    the phase allows. The page re-reads the API while the submission is in progress."""
    try:
        submission = submission_get_visible_to(user=request.user, submission_id=pk)
    except Submission.DoesNotExist as error:
        raise Http404("No such submission.") from error
    jobs = selectors.job_list_for_submission(submission=submission, user=request.user)
    context = {
        "submission": submission,
        "image": getattr(submission, "algorithm_image", None),
        "jobs": jobs,
        "jobs_with_logs": [job for job in jobs if not job.log_hidden],
        "hidden_logs": Counter(job.log_hidden for job in jobs if job.log_hidden).items(),
        "status_labels": {"submission": dict(Submission.Status.choices), "job": dict(Job.Status.choices)},
    }
    return render(request, "algorithms/submission_jobs.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def validation_reruns(request: HttpRequest, slug: str) -> HttpResponse:
    """A validation phase's re-runs (each with its original, status, scores and skipped cases) and the
    form that re-runs chosen algorithm submissions of the challenge on it: organizers only (403), a 404
    for a phase that is not a validation phase."""
    try:
        phase = validation.validation_phase_get_for_organizer(user=request.user, slug=slug)
    except Phase.DoesNotExist as error:
        raise Http404("No such validation phase.") from error
    problem = ""
    if request.method == "POST":
        try:
            chosen = [int(pk) for pk in request.POST.getlist("submissions")]
        except ValueError:
            problem = "Pick submissions from the list."
        else:
            try:
                validation.validation_reruns_create(phase=phase, user=request.user, submissions=chosen)
            except validation.RerunRefused as refused:
                problem = refused.sentence
            else:
                return redirect("validation-reruns", slug=phase.slug)
    context = {
        "phase": phase,
        "sources": validation.validation_sources(phase=phase),
        "runs": validation.validation_run_list(phase=phase),
        "missing_inputs": [gap.sentence for gap in selectors.phase_cases_missing_inputs(phase=phase)],
        "problem": problem,
    }
    return render(request, "algorithms/validation_reruns.html", context, status=400 if problem else 200)
