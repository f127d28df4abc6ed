"""API URLs of the submissions app, included under ``/api/``."""

from django.urls import path

from portal.submissions import api

urlpatterns = [
    path("phases/<slug:slug>/submissions/", api.PhaseSubmissionsView.as_view(), name="phase-submissions"),
    path("submissions/<id:pk>/", api.SubmissionDetailView.as_view(), name="submission-detail"),
    path("submissions/<id:pk>/cancel/", api.SubmissionCancelView.as_view(), name="submission-cancel"),
    path("submissions/<id:pk>/requeue/", api.SubmissionRequeueView.as_view(), name="submission-requeue"),
    path("submissions/<id:pk>/stop/", api.SubmissionStopView.as_view(), name="submission-stop"),
    path(
        "submissions/<id:pk>/select-final/",
        api.SubmissionSelectFinalView.as_view(),
        name="submission-select-final",
    ),
]
