"""URLs of the organizer's pages: ``/challenges/SLUG/organize/...`` for one challenge."""

from django.urls import URLPattern, path

from portal.organizers.views import phases

urlpatterns: list[URLPattern] = [
    path(
        "challenges/<slug:slug>/organize/phases/new/", phases.phase_create_view, name="organizer-phase-create"
    ),
    path(
        "challenges/<slug:slug>/organize/phases/<slug:phase_slug>/",
        phases.phase_edit_view,
        name="organizer-phase-edit",
    ),
]
