"""Leaderboard pages of a phase, by the phase's slug."""

from django.urls import path

from portal.leaderboards import views

urlpatterns = [
    path("<slug:phase_slug>/", views.leaderboard_detail, name="leaderboard-detail"),
    path("<slug:phase_slug>/cases/", views.leaderboard_cases, name="leaderboard-cases"),
    path("<slug:phase_slug>/biomarkers/", views.leaderboard_biomarkers, name="leaderboard-biomarkers"),
    path(
        "<slug:phase_slug>/biomarkers/rescore/",
        views.leaderboard_results_complete,
        name="leaderboard-results-complete",
    ),
    path(
        "<slug:phase_slug>/submissions/<id:submission_id>/",
        views.leaderboard_submission,
        name="leaderboard-submission",
    ),
    path("<slug:phase_slug>/ensembles/new/", views.ensemble_create, name="ensemble-create"),
    path(
        "<slug:phase_slug>/ensembles/<id:ensemble_id>/",
        views.ensemble_detail,
        name="ensemble-detail",
    ),
    path(
        "<slug:phase_slug>/ensembles/<id:ensemble_id>/ranking/",
        views.ensemble_ranking,
        name="ensemble-ranking",
    ),
    path(
        "<slug:phase_slug>/export/<str:table>.<str:file_format>",
        views.leaderboard_export,
        name="leaderboard-export",
    ),
]
