"""The web door to changes: the queue, a change's page with its decision and undo buttons,
the status fragment that refreshes while a revert runs, bulk approve, and the page that
confirms linking a Slack identity. Views validate and call; the work is in
``approvals.queries``, ``approvals.actions.decide`` and ``approvals.bulk``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from approvals import bulk, queries, wording
from approvals.actions import DecisionError, ReasonRequired, decide
from approvals.models import SlackLinkNonce, Verdict, Via
from approvals.slack.links import LinkError, link_slack_identity, read_link_token
from ingestion.models import SecurityGroupChange
from sgportal.models import Tenant
from sgportal.tenancy import Role, get_for_user, has_role

PAGE_SIZE = 50
MAX_REASON = 2000


def get_change_for_user(user, pk, min_role: str = Role.VIEWER) -> SecurityGroupChange:
    """The one lookup of a change on user input: absent and not-yours are the same 404."""
    return get_for_user(
        SecurityGroupChange.objects.select_related("tenant", "account"), user, pk, min_role
    )


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@login_required
def change_list(request: HttpRequest) -> HttpResponse:
    params = request.GET.copy()
    params.pop("page", None)
    result = queries.queue(
        request.user, params, page_number=request.GET.get("page"), page_size=PAGE_SIZE
    )
    context = {
        "queue": result,
        "form": result.filterset.form,
        "page": result.page,
        "rows": result.rows,
        "query": params.urlencode(),
        "status": params.get("status", ""),
    }
    template = "approvals/_queue_results.html" if _is_htmx(request) else "approvals/queue.html"
    return render(request, template, context)


@login_required
@require_POST
def bulk_approve(request: HttpRequest) -> HttpResponse:
    reason = request.POST.get("reason", "").strip()[:MAX_REASON]
    ids = [pk for pk in request.POST.getlist("change") if pk.isdigit()]
    back = reverse("approvals:queue") + _query_suffix(request.POST.get("query", ""))
    if not ids:
        messages.error(request, "Select at least one change to approve.")
        return redirect(back)
    if not reason:
        messages.error(request, "Give a reason for approving the selected changes.")
        return redirect(back)
    result = bulk.approve_changes(request.user, [int(pk) for pk in ids], reason=reason)
    if result.approved:
        messages.success(request, f"Approved {len(result.approved)} change(s).")
    skipped = len(result.refused) + result.missing
    if skipped:
        why = "; ".join(f"#{pk}: {text}" for pk, text in list(result.refused.items())[:5])
        messages.error(request, f"Not approved: {skipped} change(s). {why}".strip())
    return redirect(back)


def _query_suffix(query: str) -> str:
    """The queue's filters to go back to (a query string only, never a URL)."""
    query = query.lstrip("?")
    if not query or any(c in query for c in "/\\:\r\n"):
        return ""
    return "?" + query


@login_required
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_change_for_user(request.user, pk)
    story = queries.story(change, request.user)
    return render(
        request,
        "approvals/change_detail.html",
        {
            "story": story,
            "change": change,
            "severity": story.severity,
            "deny_effect": wording.deny_effect(change),
            "deny_reverts": wording.deny_reverts(change),
            "can_decide": story.can_decide,
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
def change_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The status, revert timeline and undo part of the change page (polled by htmx)."""
    change = get_change_for_user(request.user, pk)
    return render(
        request,
        "approvals/_change_status.html",
        {"story": queries.story(change, request.user), "change": change},
    )


@login_required
@require_POST
def change_decide(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_change_for_user(request.user, pk)
    if not has_role(request.user, change.tenant_id, Role.APPROVER):
        raise PermissionDenied("Approver role required.")
    verdict = request.POST.get("verdict", "")
    if verdict not in (Verdict.APPROVE, Verdict.DENY):
        return HttpResponse("Unknown verdict.", status=400)
    reason = request.POST.get("reason", "").strip()[:MAX_REASON]
    # A deny needs a reason unless the tenant turned that off: decide() says so
    # (ReasonRequired), and a late click on a decided change is told who was first instead.
    try:
        decide(change, verdict=verdict, actor=request.user, via=Via.WEB, reason=reason)
    except ReasonRequired as exc:
        messages.error(request, f"Not recorded: {exc}. Say why in the reason field.")
        return redirect("approvals:change_detail", pk=change.pk)
    except DecisionError as exc:
        messages.error(request, f"Not recorded: {exc}.")
        return redirect("approvals:change_detail", pk=change.pk)
    messages.success(request, f"Recorded: {Verdict(verdict).label}.")
    return redirect("approvals:change_detail", pk=change.pk)


@login_required
@require_POST
def change_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Undo a finished revert (tenant admins): a decision like any other, through decide()."""
    change = get_change_for_user(request.user, pk)
    if not has_role(request.user, change.tenant_id, Role.ADMIN):
        raise PermissionDenied("Tenant admin role required.")
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Not recorded: confirm the undo first.")
        return redirect("approvals:change_detail", pk=change.pk)
    reason = request.POST.get("reason", "").strip()[:MAX_REASON]
    try:
        decide(change, verdict=Verdict.UNDO_REVERT, actor=request.user, via=Via.WEB, reason=reason)
    except DecisionError as exc:
        messages.error(request, f"Not recorded: {exc}.")
    else:
        messages.success(request, "Recorded: undo of the revert. The rules are being put back.")
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
