"""URL map of the portal: one include per app, and the signed links to private files
(``portal.downloads``); ``<id:...>`` is a number no larger than a row id (``portal.converters``)."""

from django.contrib import admin
from django.urls import include, path, register_converter

from portal.converters import IdConverter
from portal.downloads import private_file_signed_download

register_converter(IdConverter, "id")

# A URL that matches nothing under /api/ is answered as the API answers a missing object, in JSON.
handler404 = "portal.api.errors.page_not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("portal.accounts.urls")),
    path("datasets/", include("portal.datasets.urls")),
    path("submissions/", include("portal.submissions.urls")),
    path("algorithms/", include("portal.algorithms.urls")),
    path("api/", include("portal.api.urls")),
    path("health/", include("portal.health.urls")),
    path("files/signed/<str:token>/", private_file_signed_download, name="private-file-signed"),
    path("leaderboards/", include("portal.leaderboards.urls")),
    path("studies/campaigns/", include("portal.annotations.urls")),
    path("studies/", include("portal.readerstudies.urls")),
    path("", include("portal.organizers.urls")),
    path("", include("portal.challenges.urls")),
]
