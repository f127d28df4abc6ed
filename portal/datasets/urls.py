"""URLs of the dataset pages."""

from django.urls import path

from portal.datasets import views

urlpatterns = [
    path("images/<id:pk>/download/", views.image_download, name="image-download"),
    path("images/<id:pk>/volume/", views.image_volume, name="image-volume"),
    path("ground-truths/<id:pk>/download/", views.ground_truth_download, name="ground-truth-download"),
    path("ground-truths/<id:pk>/volume/", views.ground_truth_volume, name="ground-truth-volume"),
    path("cases/<id:pk>/view/", views.case_viewer, name="case-viewer"),
    path("<slug:challenge_slug>/card/", views.data_card, name="data-card"),
    path("<slug:challenge_slug>/<slug:dataset_slug>/<slug:split>/", views.case_list, name="case-list"),
]
