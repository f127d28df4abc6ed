"""URLs of the challenge's data page, under ``/challenges/SLUG/organize/data/``."""

from django.urls import path

from portal.organizers.views import data

urlpatterns = [
    path("", data.data_view, name="organizer-dataset-import"),
    path("imports/<id:import_id>/", data.dataset_import_view, name="organizer-dataset-import-detail"),
    path("ground-truth/", data.ground_truth_upload_view, name="organizer-ground-truth-upload"),
]
