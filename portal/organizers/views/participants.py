"""The participants page of a challenge: who takes part, with their team, the day they joined, their
acceptance of the data-use terms and whether their e-mail address is confirmed, and the same as a CSV file
(``portal.csv_export``, safe to open in a spreadsheet). Where the organizers approve participants, the
requests to take part wait here for an organizer's approval or rejection
(``accounts.services.participation_request_decide``)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from portal.accounts.selectors import participation_request_get, participation_request_list
from portal.accounts.services import participation_request_decide
from portal.csv_export import csv_rows_text
from portal.organizers.forms.participants import ParticipationDecisionForm
from portal.organizers.selectors import PARTICIPANT_CSV_HEADER, challenge_participant_list
from portal.organizers.views.access import challenge_organized_or_refused


@login_required
@require_safe
def participants_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Every participant of the challenge, one row each, and the requests to take part."""
    challenge = challenge_organized_or_refused(request, slug)
    context = {
        "challenge": challenge,
        "participants": challenge_participant_list(challenge=challenge),
        "requests": participation_request_list(challenge=challenge),
    }
    return render(request, "organizers/participants.html", context)


@login_required
@require_safe
def participants_csv_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The participants page's rows as a CSV file."""
    challenge = challenge_organized_or_refused(request, slug)
    rows = [row.csv_row() for row in challenge_participant_list(challenge=challenge)]
    response = HttpResponse(
        csv_rows_text(header=PARTICIPANT_CSV_HEADER, rows=rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{challenge.slug}-participants.csv"'
    return response


@login_required
@require_POST
def participation_request_decide_view(request: HttpRequest, slug: str, request_id: int) -> HttpResponse:
    """Approve or reject a request to take part in the challenge; the person is e-mailed the decision."""
    challenge = challenge_organized_or_refused(request, slug)
    participation_request = participation_request_get(challenge=challenge, pk=request_id)
    if participation_request is None:
        raise Http404("No such request to take part in this challenge.")
    form = ParticipationDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Approve or Reject, with a reason of 2000 characters at most.")
        return redirect("organizer-participants", slug=challenge.slug)
    approve = form.cleaned_data["decision"] == "approve"
    try:
        participation_request_decide(
            participation_request=participation_request,
            approve=approve,
            reason=form.cleaned_data["reason"],
            by=request.user,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        username = participation_request.user.username
        if approve:
            messages.success(request, f"{username} now takes part in {challenge.title}.")
        else:
            messages.success(request, f"You declined {username}'s request; they are told by e-mail.")
    return redirect("organizer-participants", slug=challenge.slug)
