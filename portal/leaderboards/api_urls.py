"""API routes of the leaderboards, included by ``portal.api.urls``."""

from django.urls import path

from portal.leaderboards import api

urlpatterns = [
    path("phases/<slug:phase_slug>/leaderboard/", api.LeaderboardView.as_view(), name="leaderboard"),
    path(
        "phases/<slug:phase_slug>/leaderboard/cases/",
        api.LeaderboardCasesView.as_view(),
        name="leaderboard-cases",
    ),
    path(
        "phases/<slug:phase_slug>/leaderboard/subgroups/",
        api.LeaderboardSubgroupsView.as_view(),
        name="leaderboard-subgroups",
    ),
    path(
        "phases/<slug:phase_slug>/leaderboard/biomarkers/",
        api.LeaderboardBiomarkersView.as_view(),
        name="leaderboard-biomarkers",
    ),
    path(
        "phases/<slug:phase_slug>/leaderboard/export/<str:table>.<str:file_format>",
        api.LeaderboardExportView.as_view(),
        name="leaderboard-export",
    ),
    path("phases/<slug:phase_slug>/ensembles/", api.PhaseEnsemblesView.as_view(), name="phase-ensembles"),
    path("ensembles/<id:ensemble_id>/", api.EnsembleView.as_view(), name="ensemble"),
]
