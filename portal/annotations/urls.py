"""URLs of the annotation campaign pages, included under ``/studies/campaigns/`` (beside the reader
studies, where they began)."""

from django.urls import path

from portal.annotations import views

urlpatterns = [
    path("new/<slug:challenge_slug>/", views.campaign_create, name="annotation-campaign-create"),
    path("<id:pk>/", views.campaign_detail, name="annotation-campaign-detail"),
    path("<id:pk>/promote/", views.campaign_promote, name="annotation-campaign-promote"),
    path("<id:pk>/phase-version/", views.campaign_phase_version, name="annotation-phase-version"),
    path(
        "<id:pk>/cases/<id:case_pk>/consensus/",
        views.campaign_consensus_viewer,
        name="annotation-consensus-viewer",
    ),
    path(
        "<id:pk>/cases/<id:case_pk>/consensus/volume/",
        views.campaign_consensus_volume,
        name="annotation-consensus-volume",
    ),
    path("assignments/<id:pk>/", views.annotation_draw, name="annotation-draw"),
    path(
        "assignments/<id:pk>/reopen/", views.annotation_assignment_reopen, name="annotation-assignment-reopen"
    ),
    path("assignments/<id:pk>/images/<id:index>/", views.annotation_image, name="annotation-image"),
    path(
        "assignments/<id:pk>/start/",
        views.annotation_starting_mask,
        name="annotation-starting-mask",
    ),
    path(
        "assignments/<id:pk>/revisions/<id:number>/",
        views.annotation_revision_file,
        name="annotation-revision-file",
    ),
]
