"""The participants page of a challenge: who takes part, with their team, the day they joined, their
acceptance of the data-use terms and whether their e-mail address is confirmed, and the same as a CSV file
(``portal.csv_export``, safe to open in a spreadsheet)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from portal.csv_export import csv_rows_text
from portal.organizers.selectors import PARTICIPANT_CSV_HEADER, challenge_participant_list
from portal.organizers.views.access import challenge_organized_or_refused


@login_required
@require_safe
def participants_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Every participant of the challenge, one row each."""
    challenge = challenge_organized_or_refused(request, slug)
    context = {"challenge": challenge, "participants": challenge_participant_list(challenge=challenge)}
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
