"""URLs of the challenge's participants page, under ``/challenges/SLUG/organize/``."""

from django.urls import path

from portal.organizers.views import participants

urlpatterns = [
    path("participants/", participants.participants_view, name="organizer-participants"),
    path("participants/export/", participants.participants_csv_view, name="organizer-participants-csv"),
]
