"""/api/v1/: every app's API routes, the OpenAPI schema and its docs page."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from sgportal.api.views import AuditEntryViewSet, AwsAccountViewSet

router = SimpleRouter()
router.register("accounts", AwsAccountViewSet, basename="api-account")
router.register("audit", AuditEntryViewSet, basename="api-audit")

urlpatterns = [
    *router.urls,
    path("", include("ingestion.api.urls")),
    path("", include("approvals.api.urls")),
]
