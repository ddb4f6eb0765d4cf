"""/api/v1/: every app's API routes, the OpenAPI schema and its docs page."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from sgportal.api.views import AuditEntryViewSet, AwsAccountViewSet

router = SimpleRouter()
router.register("accounts", AwsAccountViewSet, basename="api-account")
router.register("audit", AuditEntryViewSet, basename="api-audit")

urlpatterns = [
    *router.urls,
    path("", include("ingestion.api.urls")),
    path("", include("approvals.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
