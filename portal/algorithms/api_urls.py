"""API URLs of the algorithms app, included under ``/api/``."""

from django.urls import path

from portal.algorithms import api, worker_api

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
    path(
        "phases/<slug:slug>/validation-runs/",
        api.PhaseValidationRunsView.as_view(),
        name="phase-validation-runs",
    ),
    path("algorithm-uploads/<uuid:upload_id>/", api.AlgorithmUploadView.as_view(), name="algorithm-upload"),
    path("submissions/<id:pk>/jobs/", api.SubmissionJobsView.as_view(), name="submission-jobs"),
    path("worker/jobs/next/", worker_api.NextJobView.as_view(), name="worker-job-next"),
    path("worker/jobs/<id:pk>/beat/", worker_api.JobBeatView.as_view(), name="worker-job-beat"),
    path("worker/jobs/<id:pk>/let-go/", worker_api.JobLetGoView.as_view(), name="worker-job-let-go"),
    path("worker/jobs/<id:pk>/report/", worker_api.JobReportView.as_view(), name="worker-job-report"),
]
