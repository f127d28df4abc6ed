"""URLs of the submission pages, included under ``/submissions/``."""

from django.urls import path

from portal.submissions import views

urlpatterns = [
    path("phases/<slug:slug>/", views.phase_submissions, name="phase-submissions"),
    path("<id:pk>/", views.submission_detail, name="submission-detail"),
    path("<id:pk>/cancel/", views.submission_cancel_view, name="submission-cancel"),
    path("<id:pk>/requeue/", views.submission_requeue_view, name="submission-requeue"),
    path("<id:pk>/stop/", views.submission_stop_view, name="submission-stop"),
    path("<id:pk>/select-final/", views.submission_select_final_view, name="submission-select-final"),
    path("<id:pk>/review/", views.submission_review, name="submission-review"),
    path("<id:pk>/review/<id:case_pk>/", views.submission_review, name="submission-review-case"),
    path(
        "<id:pk>/review/<id:case_pk>/overlap.nii.gz",
        views.submission_review_overlap,
        name="submission-review-overlap",
    ),
]
