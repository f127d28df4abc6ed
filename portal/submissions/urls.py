"""URLs of the submission pages, included under ``/submissions/``."""

from django.urls import path

from portal.submissions import views

urlpatterns = [
    path("phases/<slug:slug>/", views.phase_submissions, name="phase-submissions"),
    path("<int:pk>/", views.submission_detail, name="submission-detail"),
    path("<int:pk>/cancel/", views.submission_cancel_view, name="submission-cancel"),
    path("<int:pk>/requeue/", views.submission_requeue_view, name="submission-requeue"),
    path("<int:pk>/stop/", views.submission_stop_view, name="submission-stop"),
    path("<int:pk>/select-final/", views.submission_select_final_view, name="submission-select-final"),
    path("<int:pk>/review/", views.submission_review, name="submission-review"),
    path("<int:pk>/review/<int:case_pk>/", views.submission_review, name="submission-review-case"),
    path(
        "<int:pk>/review/<int:case_pk>/overlap.nii.gz",
        views.submission_review_overlap,
        name="submission-review-overlap",
    ),
]
