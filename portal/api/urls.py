"""URLs of the API, its OpenAPI schema and its documentation pages (served without any CDN)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from portal.accounts.api import AuthTokenView
from portal.api import views

app_name = "api"

router = DefaultRouter()
router.register("challenges", views.ChallengeViewSet, basename="challenge")

urlpatterns = [
    *router.urls,
    path("me/", views.MeView.as_view(), name="me"),
    path("images/<id:pk>/file/", views.ImageFileView.as_view(), name="image-file"),
    path("ground-truths/<id:pk>/file/", views.GroundTruthFileView.as_view(), name="ground-truth-file"),
    path("challenges/<slug:slug>/files/", views.ReleaseFileListView.as_view(), name="release-files"),
    path("challenges/<slug:slug>/archive/", views.ReleaseArchiveView.as_view(), name="release-archive"),
    path("challenges/<slug:slug>/data-card/", views.DataCardView.as_view(), name="data-card"),
    path(
        "challenges/<slug:slug>/data-card/accept/",
        views.DataTermsAcceptView.as_view(),
        name="data-terms-accept",
    ),
    path("auth/token/", AuthTokenView.as_view(), name="token"),
    path("", include("portal.challenges.api_urls")),
    path("", include("portal.submissions.api_urls")),
    path("", include("portal.algorithms.api_urls")),
    path("", include("portal.leaderboards.api_urls")),
    path("", include("portal.readerstudies.api_urls")),
    path("", include("portal.annotations.api_urls")),
    path("", include("portal.organizers.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html"),
        name="redoc",
    ),
]
