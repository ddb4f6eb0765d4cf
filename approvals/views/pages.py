"""The dashboard, the audit log and the ingestion status pages (issue 13)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from approvals import charts, queries
from sgportal.models import AuditAction


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    data = queries.dashboard(request.user)
    return render(
        request,
        "approvals/dashboard.html",
        {"dash": data, "chart": charts.stacked_bars(data.per_day, data.levels)},
    )


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    tenants = queries.audit_tenants(request.user)
    if not tenants:
        raise PermissionDenied("Approver or admin role required.")
    entries = queries.audit_entries(request.user, request.GET)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("verify", None)
    return render(
        request,
        "approvals/audit.html",
        {
            "page": page,
            "tenants": tenants,
            "actions": AuditAction.choices,
            "params": request.GET,
            "query": params.urlencode(),
            "reports": queries.verify_tenants(request.user) if request.GET.get("verify") else None,
        },
    )


@login_required
def ingestion_status(request: HttpRequest) -> HttpResponse:
    statuses = queries.ingestion_status(request.user)
    if not statuses:
        raise PermissionDenied("Tenant admin role required.")
    return render(request, "approvals/ingestion_status.html", {"statuses": statuses})
