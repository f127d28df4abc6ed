"""URLs of the health app."""

from django.urls import path

from portal.health import views

app_name = "health"
urlpatterns = [
    path("", views.health, name="health"),
]
