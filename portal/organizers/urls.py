"""URLs of the organizer's pages: ``/challenges/SLUG/organize/...`` for one challenge."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
