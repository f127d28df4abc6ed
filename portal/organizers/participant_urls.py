"""URLs of the challenge's participants page and its decisions on requests to take part, under
``/challenges/SLUG/organize/``."""

from django.urls import path

from portal.organizers.views import participants

urlpatterns = [
    path("participants/", participants.participants_view, name="organizer-participants"),
    path("participants/export/", participants.participants_csv_view, name="organizer-participants-csv"),
    path(
        "participants/requests/<id:request_id>/",
        participants.participation_request_decide_view,
        name="organizer-participation-request-decide",
    ),
]
