"""API routes of annotation campaigns, included by ``portal.api.urls``."""

from django.urls import path

from portal.annotations import api

urlpatterns = [
    path("campaigns/assignments/<id:pk>/", api.AssignmentView.as_view(), name="annotation-assignment"),
    path("campaigns/assignments/<id:pk>/mask/", api.AssignmentMaskView.as_view(), name="annotation-mask"),
    path("campaigns/assignments/<id:pk>/done/", api.AssignmentDoneView.as_view(), name="annotation-done"),
    path(
        "campaigns/assignments/<id:pk>/reopen/", api.AssignmentReopenView.as_view(), name="annotation-reopen"
    ),
]
