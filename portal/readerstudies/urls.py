"""URLs of the reader study and annotation campaign pages, included under ``/studies/``.

A reader's files are named only by random tokens: ``masks/<token>/`` for one side of one item and
``items/<token>/images/<n>/`` for a background image.
"""

from django.urls import path

from portal.readerstudies import views

urlpatterns = [
    path("", views.study_list, name="readerstudy-list"),
    path("new/<slug:challenge_slug>/", views.study_create, name="readerstudy-create"),
    path("<id:pk>/", views.study_detail, name="readerstudy-detail"),
    path("<id:pk>/readers/", views.study_reader_invite_view, name="readerstudy-invite"),
    path("<id:pk>/results/", views.study_results, name="readerstudy-results"),
    path("<id:pk>/answers.csv", views.study_answers_csv, name="readerstudy-answers-csv"),
    path("<id:pk>/read/", views.study_read, name="readerstudy-read"),
    path("masks/<str:token>/", views.reading_mask, name="readerstudy-mask"),
    path("items/<str:token>/images/<id:index>/", views.reading_background, name="readerstudy-background"),
]
urlpatterns += [
    path("campaigns/new/<slug:challenge_slug>/", views.campaign_create, name="annotation-campaign-create"),
    path("campaigns/<id:pk>/", views.campaign_detail, name="annotation-campaign-detail"),
    path("campaigns/<id:pk>/promote/", views.campaign_promote, name="annotation-campaign-promote"),
    path("campaigns/<id:pk>/phase-version/", views.campaign_phase_version, name="annotation-phase-version"),
    path("campaigns/assignments/<id:pk>/", views.annotation_draw, name="annotation-draw"),
    path("campaigns/assignments/<id:pk>/images/<id:index>/", views.annotation_image, name="annotation-image"),
    path(
        "campaigns/assignments/<id:pk>/start/",
        views.annotation_starting_mask,
        name="annotation-starting-mask",
    ),
    path(
        "campaigns/assignments/<id:pk>/revisions/<id:number>/",
        views.annotation_revision_file,
        name="annotation-revision-file",
    ),
]
