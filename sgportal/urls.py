"""Root URLconf: the public contract's paths (see DESIGN.md)."""

from django.contrib import admin
from django.urls import include, path

from sgportal import auth, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("sgportal.api.urls")),  # REST API (issue 14)
    # allauth's email page, refusing to make an unverified address primary (issue 9).
    path("accounts/email/", auth.VerifiedPrimaryEmailView.as_view(), name="account_email"),
    path("accounts/", include("allauth.urls")),
    path("", include("ingestion.urls")),
    path("", include("approvals.urls")),
]
