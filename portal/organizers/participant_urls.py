"""URLs of what the organizers do about a challenge's participants, under ``/challenges/SLUG/organize/``:
the participants page, its export, its decisions on requests to take part, and the announcements."""

from django.urls import path

from portal.organizers.views import announcements, participants

urlpatterns = [
    path("participants/", participants.participants_view, name="organizer-participants"),
    path("participants/export/", participants.participants_csv_view, name="organizer-participants-csv"),
    path(
        "participants/requests/<id:request_id>/",
        participants.participation_request_decide_view,
        name="organizer-participation-request-decide",
    ),
    path("announcements/", announcements.announcements_view, name="organizer-announcements"),
]
