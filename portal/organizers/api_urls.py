"""API routes of the organizer's pages (a release's chunked upload, an import's progress), under ``/api/``."""

from django.urls import path

from portal.organizers import api

urlpatterns = [
    path(
        "challenges/<slug:slug>/release-uploads/",
        api.ChallengeReleaseUploadsView.as_view(),
        name="challenge-release-uploads",
    ),
    path("release-uploads/<uuid:upload_id>/", api.ReleaseUploadView.as_view(), name="release-upload"),
    path(
        "ensembles/<id:ensemble_id>/validations/",
        api.EnsembleValidationsView.as_view(),
        name="ensemble-validations",
    ),
    path(
        "challenges/<slug:slug>/dataset-imports/<id:pk>/",
        api.ChallengeDatasetImportView.as_view(),
        name="challenge-dataset-import",
    ),
    path(
        "challenges/<slug:slug>/datasets/<slug:dataset_slug>/case-attributes/",
        api.DatasetCaseAttributesView.as_view(),
        name="dataset-case-attributes",
    ),
]
