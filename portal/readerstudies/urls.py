"""URLs of the reader study pages, included under ``/studies/``.

A reader's files are named only by random tokens: ``masks/<token>/`` for one side of one item and
``items/<token>/images/<n>/`` for a background image.
"""

from django.urls import path

from portal.readerstudies import views

urlpatterns = [
    path("", views.study_list, name="readerstudy-list"),
    path("new/<slug:challenge_slug>/", views.study_create, name="readerstudy-create"),
    path("<int:pk>/", views.study_detail, name="readerstudy-detail"),
    path("<int:pk>/readers/", views.study_reader_invite_view, name="readerstudy-invite"),
    path("<int:pk>/results/", views.study_results, name="readerstudy-results"),
    path("<int:pk>/answers.csv", views.study_answers_csv, name="readerstudy-answers-csv"),
    path("<int:pk>/read/", views.study_read, name="readerstudy-read"),
    path("masks/<str:token>/", views.reading_mask, name="readerstudy-mask"),
    path("items/<str:token>/images/<int:index>/", views.reading_background, name="readerstudy-background"),
]
