"""API URLs of the challenge's data page, included under ``/api/``."""

from django.urls import path

from portal.organizers import data_api

urlpatterns = [
    path(
        "challenges/<slug:slug>/release-uploads/",
        data_api.ChallengeReleaseUploadsView.as_view(),
        name="challenge-release-uploads",
    ),
    path("release-uploads/<uuid:upload_id>/", data_api.ReleaseUploadView.as_view(), name="release-upload"),
    path(
        "challenges/<slug:slug>/dataset-imports/<id:pk>/",
        data_api.ChallengeDatasetImportView.as_view(),
        name="challenge-dataset-import",
    ),
]
