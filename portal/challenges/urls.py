"""URLs of the challenge pages."""

from django.urls import path

from portal.challenges import views

urlpatterns = [
    path("", views.challenge_list, name="challenge-list"),
    path("challenges/<slug:slug>/", views.challenge_detail, name="challenge-detail"),
    path("challenges/<slug:slug>/join/", views.challenge_join_view, name="challenge-join"),
]
