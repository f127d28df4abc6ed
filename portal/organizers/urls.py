"""URLs of the organizer's pages: ``/challenges/SLUG/organize/...`` for one challenge."""

from django.urls import URLPattern, URLResolver, include, path

from portal.organizers.views import challenge, dashboard, people, phases

urlpatterns: list[URLPattern | URLResolver] = [
    path("organize/new/", challenge.challenge_create_view, name="organizer-challenge-create"),
    path("challenges/<slug:slug>/organize/", dashboard.dashboard_view, name="organizer-dashboard"),
    path(
        "challenges/<slug:slug>/organize/edit/",
        challenge.challenge_edit_view,
        name="organizer-challenge-edit",
    ),
    path("challenges/<slug:slug>/organize/people/", people.people_view, name="organizer-people"),
    path(
        "challenges/<slug:slug>/organize/people/<id:role_id>/remove/",
        people.person_remove_view,
        name="organizer-person-remove",
    ),
    path(
        "challenges/<slug:slug>/organize/new-phase/", phases.phase_create_view, name="organizer-phase-create"
    ),
    path(
        "challenges/<slug:slug>/organize/phases/<slug:phase_slug>/",
        phases.phase_edit_view,
        name="organizer-phase-edit",
    ),
    # The data page and its import and ground-truth pages (portal.organizers.data_urls).
    path("challenges/<slug:slug>/organize/data/", include("portal.organizers.data_urls")),
    # The participants page, its export and its approvals (portal.organizers.participant_urls).
    path("challenges/<slug:slug>/organize/", include("portal.organizers.participant_urls")),
]
