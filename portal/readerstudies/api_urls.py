"""API routes of reader studies, included by ``portal.api.urls``."""

from django.urls import path

from portal.readerstudies import api

urlpatterns = [
    path("studies/<id:pk>/next/", api.NextItemView.as_view(), name="readerstudy-next"),
    path("studies/<id:pk>/items/<str:token>/answer/", api.AnswerView.as_view(), name="readerstudy-answer"),
    path("studies/<id:pk>/items/<str:token>/drawn/", api.DrawnView.as_view(), name="readerstudy-drawn"),
    path("studies/<id:pk>/results/", api.ResultsView.as_view(), name="readerstudy-results"),
    path("studies/<id:pk>/answers.csv", api.AnswersCsvView.as_view(), name="readerstudy-answers-csv"),
]
