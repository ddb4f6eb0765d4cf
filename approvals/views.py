"""The web door: the change queue, a change's detail page with decision buttons, and the
page that confirms linking a Slack identity."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from approvals import wording
from approvals.actions import DecisionError, decide
from approvals.models import SlackLinkNonce, Verdict, Via
from approvals.slack.links import LinkError, link_slack_identity, read_link_token
from ingestion.models import ChangeStatus, SecurityGroupChange
from sgportal.models import Tenant
from sgportal.tenancy import Role, get_for_user, has_role

PAGE_SIZE = 50


def get_change_for_user(user, pk, min_role: str = Role.VIEWER) -> SecurityGroupChange:
    """The one lookup of a change on user input: absent and not-yours are the same 404."""
    return get_for_user(
        SecurityGroupChange.objects.select_related("tenant", "account"), user, pk, min_role
    )


@login_required
def change_list(request: HttpRequest) -> HttpResponse:
    changes = SecurityGroupChange.objects.for_user(request.user).select_related("tenant", "account")
    status = request.GET.get("status", "")
    if status in ChangeStatus.values:
        changes = changes.filter(status=status)
    else:
        status = ""
    page = Paginator(changes.order_by("-ingested_at", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [
        {
            "change": change,
            "severity": wording.severity_of(change),
            "rules": wording.rules_in_words(change, limit=3),
            "more": max(0, len(change.rules or []) - 3),
            "account": wording.account_of(change),
        }
        for change in page
    ]
    return render(
        request,
        "approvals/change_list.html",
        {"page": page, "rows": rows, "status": status, "statuses": ChangeStatus.choices},
    )


@login_required
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_change_for_user(request.user, pk)
    can_decide = change.status == ChangeStatus.PENDING and has_role(
        request.user, change.tenant_id, Role.APPROVER
    )
    return render(
        request,
        "approvals/change_detail.html",
        {
            "change": change,
            "severity": wording.severity_of(change),
            "rules": wording.rules_in_words(change),
            "deny_effect": wording.deny_effect(change),
            "deny_reverts": wording.deny_reverts(change),
            "account": wording.account_of(change),
            "group": wording.group_of(change),
            "tool": wording.tool_of(change),
            "decisions": change.decisions.order_by("decided_at"),
            "slack_message": getattr(change, "slack_message", None),
            "can_decide": can_decide,
            "policy": _policy_context(change),  # issue 15: rule, severity, time left
        },
    )


def _policy_context(change: SecurityGroupChange) -> dict | None:
    from approvals.policy.deadlines import time_left

    match = getattr(change, "policy_match", None)
    if match is None:
        return None
    return {"match": match, "time_left": time_left(match)}


@login_required
@require_POST
def change_decide(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_change_for_user(request.user, pk)
    if not has_role(request.user, change.tenant_id, Role.APPROVER):
        raise PermissionDenied("Approver role required.")
    verdict = request.POST.get("verdict", "")
    if verdict not in (Verdict.APPROVE, Verdict.DENY):
        return HttpResponse("Unknown verdict.", status=400)
    try:
        decide(
            change,
            verdict=verdict,
            actor=request.user,
            via=Via.WEB,
            reason=request.POST.get("reason", "")[:2000],
        )
    except DecisionError as exc:
        messages.error(request, f"Not recorded: {exc}.")
        return redirect("approvals:change_detail", pk=change.pk)
    messages.success(request, f"Recorded: {Verdict(verdict).label}.")
    return redirect("approvals:change_detail", pk=change.pk)


@login_required
@require_POST
def change_allow(request: HttpRequest, pk: int) -> HttpResponse:
    """Policies (issue 15): "allow this for 30 days" = an exception + approve this change."""
    from approvals.policy.actions import allow_change

    change = get_change_for_user(request.user, pk)
    if not has_role(request.user, change.tenant_id, Role.APPROVER):
        raise PermissionDenied("Approver role required.")
    reason = request.POST.get("reason", "").strip()[:2000]
    if not reason:
        messages.error(request, "Not recorded: say why this may stay.")
        return redirect("approvals:change_detail", pk=change.pk)
    try:
        exception = allow_change(change, user=request.user, reason=reason)
    except DecisionError as exc:
        messages.error(request, f"Not recorded: {exc}.")
        return redirect("approvals:change_detail", pk=change.pk)
    messages.success(request, f"Allowed until {exception.expires_at:%Y-%m-%d} (approved).")
    return redirect("approvals:change_detail", pk=change.pk)


@login_required
@require_http_methods(["GET", "POST"])
def slack_link(request: HttpRequest, token: str) -> HttpResponse:
    try:
        claim = read_link_token(token)
        if not has_role(request.user, claim.tenant_id, Role.VIEWER):
            raise LinkError("This link is for a tenant you are not a member of.")
    except LinkError as exc:
        return render(request, "approvals/slack_link.html", {"error": str(exc)}, status=400)
    tenant = Tenant.objects.get(pk=claim.tenant_id)
    nonce = SlackLinkNonce.objects.filter(nonce=claim.nonce).first()
    context = {
        "claim": claim,
        "tenant": tenant,
        "slack_username": nonce.slack_username if nonce else "",
    }
    if request.method == "POST":
        try:
            link_slack_identity(claim, request.user)
        except LinkError as exc:
            return render(request, "approvals/slack_link.html", {"error": str(exc)}, status=400)
        context["linked"] = True
    return render(request, "approvals/slack_link.html", context)
