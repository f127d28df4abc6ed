"""URLs of the account pages: ours (the account page and its API token), then django-allauth's (sign up,
log in and out, e-mail addresses and their confirmation, password reset and change)."""

from django.urls import include, path

from portal.accounts import views

urlpatterns = [
    path("me/", views.account, name="account"),
    path("me/token/", views.token_regenerate_view, name="token-regenerate"),
    path("", include("allauth.urls")),
]
