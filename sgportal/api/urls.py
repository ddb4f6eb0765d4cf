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
    # Public pages: no authentication at all (DRF's default would check session and HTTP
    # Basic passwords here, a password door beside the sign-in page).
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[]), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", authentication_classes=[]),
        name="api-docs",
    ),
]
