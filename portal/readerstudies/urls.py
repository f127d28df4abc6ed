"""URLs of the reader study pages, included under ``/studies/`` (annotation campaigns are under
``/studies/campaigns/``, ``portal.annotations.urls``).

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
    path("<id:pk>/design/", views.study_design_update, name="readerstudy-design"),
    path("<id:pk>/results/", views.study_results, name="readerstudy-results"),
    path("<id:pk>/answers.csv", views.study_answers_csv, name="readerstudy-answers-csv"),
    path("<id:pk>/read/", views.study_read, name="readerstudy-read"),
    path("<id:pk>/instructions/", views.study_instructions, name="readerstudy-instructions"),
    path("<id:pk>/finished/", views.study_finished, name="readerstudy-finished"),
    path("masks/<str:token>/", views.reading_mask, name="readerstudy-mask"),
    path("items/<str:token>/images/<id:index>/", views.reading_background, name="readerstudy-background"),
]
