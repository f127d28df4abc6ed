"""Reader study pages: organizers create a study, invite readers, read the results and export answers;
a reader reads in a page that knows only opaque tokens. The list at ``/studies/`` is also where a user
finds the annotation campaigns they organize and the cases they annotate (``portal.annotations``).

Whatever a user may not see is a 404, so nobody learns that a study or an item exists; what they know of
but may not do (a reader at the study's organizer pages, anyone but an organizer at the form that makes
a study of a challenge they see) is a 403. The reading page
never shows the study's title (organizers write it, and it may name a source): it says which challenge
the study belongs to and nothing else about it. Both masks of an item are served by one view from files
rendered when the study was prepared, under one neutral name.
"""

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from portal.annotations import selectors as annotation_selectors
from portal.challenges.models import Challenge
from portal.challenges.selectors import challenge_get_visible_to, challenge_list_organized_by
from portal.csv_export import csv_rows_text
from portal.datasets.views import VIEWER_CONTENT_SECURITY_POLICY, volume_response
from portal.readerstudies import selectors, services
from portal.readerstudies.forms import ReaderInviteForm, ReaderStudyForm, StudyDesignForm
from portal.readerstudies.models import ReaderStudy, StudyReader

CSV_COLUMNS = (
    "reader",
    "position",
    "case",
    "source_a",
    "source_b",
    "preference",
    "preferred_source",
    "rating_a",
    "rating_b",
    "comment",
    "shown_at",
    "drawn_at",
    "answered_at",
    "seconds",
    "fast",
    "trial",
    "reader_seed",
)
EXCLUDE_FAST = "exclude_fast"
"""The query parameter of the results (page and API) that leaves implausibly fast answers out."""
# Both sides and every background are sent the same way: same headers, same caching, no name.
READING_CACHE_CONTROL = "private, max-age=3600"


def _study_or_404(request: HttpRequest, pk: int) -> ReaderStudy:
    try:
        return selectors.reader_study_get_for_organizer(user=request.user, study_id=pk)
    except ReaderStudy.DoesNotExist as error:
        raise Http404("No such study.") from error


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    """The studies and campaigns the user organizes, the studies they read and the cases they annotate."""
    context = {
        "organized": selectors.reader_study_list_organized_by(user=request.user),
        "organized_challenges": challenge_list_organized_by(user=request.user),
        "reading": selectors.study_reader_list_for(user=request.user),
        "campaigns": annotation_selectors.annotation_campaign_list_organized_by(user=request.user),
        "assignments": annotation_selectors.annotation_assignment_list_for(user=request.user),
    }
    return render(request, "readerstudies/study_list.html", context)


def _challenge_managed_or_refused(request: HttpRequest, challenge_slug: str) -> Challenge:
    """The challenge whose studies the user manages: 404 when they do not see it, 403 when they see it but
    do not organize it (before any form, which lists every team's submissions)."""
    try:
        challenge = challenge_get_visible_to(user=request.user, slug=challenge_slug)
    except Challenge.DoesNotExist as error:
        raise Http404("No such challenge.") from error
    if not selectors.reader_study_can_manage(user=request.user, challenge=challenge):
        raise PermissionDenied("Only the organizers of the challenge make its studies and campaigns.")
    return challenge


@login_required
def study_create(request: HttpRequest, challenge_slug: str) -> HttpResponse:
    """The organizer's form for a new study."""
    challenge = _challenge_managed_or_refused(request, challenge_slug)
    form = ReaderStudyForm(request.POST or None, challenge=challenge)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        sources = ([services.REFERENCE] if data["include_reference"] else []) + list(data["submissions"])
        try:
            study = services.reader_study_create(
                created_by=request.user,
                challenge=challenge,
                dataset=data["dataset"],
                split=data["split"],
                title=data["title"],
                sources=sources,
                background_interfaces=data["background_interfaces"],
                asks_quality_rating=data["asks_quality_rating"],
                asks_comment=data["asks_comment"],
                minimum_reading_seconds=data["minimum_reading_seconds"],
                instructions=data["instructions"],
                same_mask_trials=data["same_mask_trials"],
                repeated_pairs=data["repeated_pairs"],
            )
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(request, "The study is being prepared; invite its readers below.")
            return redirect("readerstudy-detail", pk=study.pk)
    return render(request, "readerstudies/study_create.html", {"challenge": challenge, "form": form})


@login_required
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The organizer's page of a study: status, sources, readers and their progress."""
    study = _study_or_404(request, pk)
    context = {
        "study": study,
        "sources": study.sources.all(),
        "readers": selectors.study_reader_list(study=study),
        "candidates": selectors.reader_candidate_list(study=study),
        "invite_form": ReaderInviteForm(),
        "design_form": StudyDesignForm(
            initial={
                "instructions": study.instructions,
                "same_mask_trials": study.same_mask_trials,
                "repeated_pairs": study.repeated_pairs,
            }
        ),
    }
    return render(request, "readerstudies/study_detail.html", context)


@login_required
@require_POST
def study_reader_invite_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Invite a reader by name."""
    study = _study_or_404(request, pk)
    form = ReaderInviteForm(request.POST)
    if form.is_valid():
        services.study_reader_invite(study=study, user=form.cleaned_data["username"], invited_by=request.user)
        messages.success(request, f"{form.cleaned_data['username']} is invited.")
    else:
        messages.error(request, " ".join(form.errors["username"]))
    return redirect("readerstudy-detail", pk=study.pk)


@login_required
@require_POST
def study_design_update(request: HttpRequest, pk: int) -> HttpResponse:
    """Change the study's instructions and, before any reader is invited, its catch trials."""
    study = _study_or_404(request, pk)
    form = StudyDesignForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Catch-trial counts are whole numbers, 0 or more.")
        return redirect("readerstudy-detail", pk=study.pk)
    try:
        services.reader_study_design_update(study=study, user=request.user, **form.cleaned_data)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The study's design is saved.")
    return redirect("readerstudy-detail", pk=study.pk)


def exclude_fast_requested(query: QueryDict) -> bool:
    """Whether the results are asked for without the implausibly fast answers (``?exclude_fast=1``)."""
    return query.get(EXCLUDE_FAST, "").lower() in ("1", "true", "yes")


@login_required
def study_results(request: HttpRequest, pk: int) -> HttpResponse:
    """The study's statistics, for organizers, with or without the implausibly fast answers."""
    study = _study_or_404(request, pk)
    results = selectors.reader_study_results(study=study, exclude_fast=exclude_fast_requested(request.GET))
    return render(request, "readerstudies/study_results.html", {"study": study, "results": results})


def _time_text(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()


def answers_csv_response(study: ReaderStudy) -> HttpResponse:
    """Every answer of the study with its unblinded sources, as CSV; ``fast`` flags an answer given in
    less than the study's minimum reading time, ``trial`` names a catch trial (SAME_MASK, REPEAT) or a
    comparison (REAL)."""
    minimum = study.minimum_reading_seconds
    rows = (
        (
            item.reader.user.username,
            item.position,
            item.study_case.case.name,
            item.source_a.label,
            item.source_b.label,
            item.preference,
            selectors.answer_preferred_label(item),
            item.rating_a,
            item.rating_b,
            item.comment,
            _time_text(item.shown_at),
            _time_text(item.drawn_at),
            _time_text(item.answered_at),
            "" if item.seconds is None else f"{item.seconds:.3f}",
            "yes" if selectors.answer_is_fast(item, minimum_reading_seconds=minimum) else "no",
            item.trial,
            item.reader.seed,
        )
        for item in selectors.reader_study_answers(study=study)
    )
    response = HttpResponse(
        csv_rows_text(header=CSV_COLUMNS, rows=rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="reader-study-{study.pk}-answers.csv"'
    return response


@login_required
def study_answers_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The CSV export of every answer, for organizers."""
    return answers_csv_response(_study_or_404(request, pk))


def _reader_or_404(request: HttpRequest, pk: int) -> StudyReader:
    try:
        return selectors.study_reader_get(user=request.user, study_id=pk)
    except StudyReader.DoesNotExist as error:
        raise Http404("No such study.") from error


@login_required
def study_read(request: HttpRequest, pk: int) -> HttpResponse:
    """The reading page of an invited reader; it fetches its items from the API. The study's instructions
    come first, and a reader who has finished is sent to the finished page."""
    reader = _reader_or_404(request, pk)
    if reader.finished_at is not None:
        return redirect("readerstudy-finished", pk=pk)
    if selectors.study_reader_instructions_first(reader=reader):
        return redirect("readerstudy-instructions", pk=pk)
    answered, total = selectors.study_reader_progress(reader=reader)
    context = {
        "reader": reader,
        "challenge": reader.study.challenge,
        "answered": answered,
        "total": total,
        "next_url": reverse("api:readerstudy-next", kwargs={"pk": pk}),
        "instructions_url": reverse("readerstudy-instructions", kwargs={"pk": pk}),
    }
    response = render(request, "readerstudies/study_read.html", context)
    response["Content-Security-Policy"] = VIEWER_CONTENT_SECURITY_POLICY
    return response


@login_required
@require_http_methods(["GET", "POST"])
def study_instructions(request: HttpRequest, pk: int) -> HttpResponse:
    """The study's instructions, shown before the first item and reachable from the reading page; going
    on (POST) records that the reader has read them and opens the next item."""
    reader = _reader_or_404(request, pk)
    if request.method == "POST":
        services.study_reader_instructions_read(reader=reader)
        return redirect("readerstudy-read", pk=pk)
    answered, total = selectors.study_reader_progress(reader=reader)
    context = {"reader": reader, "challenge": reader.study.challenge, "answered": answered, "total": total}
    return render(request, "readerstudies/study_instructions.html", context)


@login_required
def study_finished(request: HttpRequest, pk: int) -> HttpResponse:
    """What happens next, once the reader has answered every item (before that, the reading page)."""
    reader = _reader_or_404(request, pk)
    if reader.finished_at is None:
        return redirect("readerstudy-read", pk=pk)
    answered, total = selectors.study_reader_progress(reader=reader)
    context = {"reader": reader, "challenge": reader.study.challenge, "answered": answered, "total": total}
    return render(request, "readerstudies/study_finished.html", context)


def reading_mask(request: HttpRequest, token: str) -> HttpResponse:
    """One side's blinded mask of one of the reader's items, sent with no name."""
    if not request.user.is_authenticated:
        raise Http404("No such file.")
    try:
        mask = selectors.reading_mask_get(user=request.user, token=token)
    except ObjectDoesNotExist as error:
        raise Http404("No such file.") from error
    return volume_response(mask.file, cache_control=READING_CACHE_CONTROL)


def reading_background(request: HttpRequest, token: str, index: int) -> HttpResponse:
    """A background image of one of the reader's items, sent with no name."""
    if not request.user.is_authenticated:
        raise Http404("No such file.")
    try:
        image = selectors.reading_background_get(user=request.user, item_token=token, index=index)
    except ObjectDoesNotExist as error:
        raise Http404("No such file.") from error
    return volume_response(image.file, cache_control=READING_CACHE_CONTROL)
