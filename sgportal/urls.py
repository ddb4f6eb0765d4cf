"""Root URLconf: the public contract's paths (see DESIGN.md)."""

from django.contrib import admin
from django.urls import include, path

from sgportal import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("sgportal.api.urls")),  # REST API (issue 14)
    path("accounts/", include("allauth.urls")),
    path("", include("ingestion.urls")),
    path("", include("approvals.urls")),
]
