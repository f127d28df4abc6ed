"""The announcements page of a challenge: its organizers write one (title and Markdown body), shown on the
challenge's page, and e-mail it to every participant if they tick the box
(``challenges.services.announcement_publish``); the earlier ones are listed below."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from portal.challenges.selectors import announcement_list
from portal.challenges.services import announcement_publish
from portal.organizers.forms.announcements import AnnouncementForm
from portal.organizers.views.access import challenge_organized_or_refused


@login_required
def announcements_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The form that publishes an announcement, and the challenge's announcements."""
    challenge = challenge_organized_or_refused(request, slug)
    form = AnnouncementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            announcement = announcement_publish(
                challenge=challenge,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                author=request.user,
                send_by_email=form.cleaned_data["send_by_email"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            sent = " and is being e-mailed to the participants" if announcement.sends_email else ""
            messages.success(request, f"{announcement.title!r} is on the challenge's page{sent}.")
            return redirect("organizer-announcements", slug=challenge.slug)
    context = {"challenge": challenge, "form": form, "announcements": announcement_list(challenge=challenge)}
    return render(request, "organizers/announcements.html", context)
