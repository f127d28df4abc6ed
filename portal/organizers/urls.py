"""URLs of the organizer's pages: ``/organize/new/`` to create a challenge, ``/challenges/SLUG/organize/...``
for one challenge (its API routes are in ``api_urls``), and an ensemble's report beside the ensemble's
page, ``/leaderboards/PHASE/ensembles/ID/report/`` (it composes the apps below, so it lives here)."""

from django.urls import URLPattern, path

from portal.organizers.views import (
    announcements,
    challenge,
    dashboard,
    data,
    participants,
    people,
    phases,
    reports,
)
from portal.organizers.views.ensembles import ensemble_validate_view

ORGANIZE = "challenges/<slug:slug>/organize/"
ENSEMBLE = "leaderboards/<slug:phase_slug>/ensembles/<id:ensemble_id>/"

urlpatterns: list[URLPattern] = [
    path("organize/new/", challenge.challenge_create_view, name="organizer-challenge-create"),
    path(ORGANIZE, dashboard.dashboard_view, name="organizer-dashboard"),
    path(f"{ORGANIZE}edit/", challenge.challenge_edit_view, name="organizer-challenge-edit"),
    # Organizers and expert readers.
    path(f"{ORGANIZE}people/", people.people_view, name="organizer-people"),
    path(f"{ORGANIZE}people/<id:role_id>/remove/", people.person_remove_view, name="organizer-person-remove"),
    # Phases.
    path(f"{ORGANIZE}new-phase/", phases.phase_create_view, name="organizer-phase-create"),
    path(f"{ORGANIZE}phases/<slug:phase_slug>/", phases.phase_edit_view, name="organizer-phase-edit"),
    # Data: release imports and ground-truth versions.
    path(f"{ORGANIZE}data/", data.data_view, name="organizer-dataset-import"),
    path(
        f"{ORGANIZE}data/imports/<id:import_id>/",
        data.dataset_import_view,
        name="organizer-dataset-import-detail",
    ),
    path(
        f"{ORGANIZE}data/ground-truth/",
        data.ground_truth_upload_view,
        name="organizer-ground-truth-upload",
    ),
    path(
        f"{ORGANIZE}data/case-attributes/",
        data.case_attributes_upload_view,
        name="organizer-case-attributes-upload",
    ),
    # External validation of an ensemble in one step.
    path(
        f"{ORGANIZE}ensembles/<id:ensemble_id>/validate/",
        ensemble_validate_view,
        name="organizer-ensemble-validate",
    ),
    # Participants, their requests to take part, and announcements to them.
    path(f"{ORGANIZE}participants/", participants.participants_view, name="organizer-participants"),
    path(
        f"{ORGANIZE}participants/export/",
        participants.participants_csv_view,
        name="organizer-participants-csv",
    ),
    path(
        f"{ORGANIZE}participants/requests/<id:request_id>/",
        participants.participation_request_decide_view,
        name="organizer-participation-request-decide",
    ),
    path(f"{ORGANIZE}announcements/", announcements.announcements_view, name="organizer-announcements"),
    # An ensemble's report, and the same as one HTML file to download.
    path(f"{ENSEMBLE}report/", reports.ensemble_report_view, name="ensemble-report"),
    path(f"{ENSEMBLE}report.html", reports.ensemble_report_export_view, name="ensemble-report-export"),
]
