"""API URLs of the algorithms app, included under ``/api/``."""

from django.urls import path

from portal.algorithms import api

urlpatterns = [
    path(
        "phases/<slug:slug>/algorithm-uploads/",
        api.PhaseAlgorithmUploadsView.as_view(),
        name="phase-algorithm-uploads",
    ),
    path(
        "phases/<slug:slug>/algorithm-contract/",
        api.PhaseAlgorithmContractView.as_view(),
        name="phase-algorithm-contract",
    ),
    path("algorithm-uploads/<uuid:upload_id>/", api.AlgorithmUploadView.as_view(), name="algorithm-upload"),
    path("submissions/<id:pk>/jobs/", api.SubmissionJobsView.as_view(), name="submission-jobs"),
]
