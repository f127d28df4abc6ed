"""URL map of the portal: one include per app."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("portal.accounts.urls")),
    path("datasets/", include("portal.datasets.urls")),
    path("submissions/", include("portal.submissions.urls")),
    path("algorithms/", include("portal.algorithms.urls")),
    path("api/", include("portal.api.urls")),
    path("health/", include("portal.health.urls")),
    path("leaderboards/", include("portal.leaderboards.urls")),
    path("studies/", include("portal.readerstudies.urls")),
    path("", include("portal.challenges.urls")),
]
