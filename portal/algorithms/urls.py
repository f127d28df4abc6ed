"""URLs of the algorithm pages, included under ``/algorithms/``."""

from django.urls import path

from portal.algorithms import views

urlpatterns = [
    path("phases/<slug:slug>/upload/", views.algorithm_upload, name="algorithm-upload"),
    path("phases/<slug:slug>/contract/", views.algorithm_contract, name="algorithm-contract"),
    path("submissions/<id:pk>/jobs/", views.submission_jobs, name="submission-jobs"),
    path("phases/<slug:slug>/validation/", views.validation_reruns, name="validation-reruns"),
]
