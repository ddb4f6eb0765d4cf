"""What a verified Slack click means: map team -> tenant, Slack user -> approver, decide.

Called only with a payload whose signature has been checked. Every refusal returns a text
for the clicking user alone; refusals by a known tenant's user are audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef

from approvals.actions import AlreadyDecided, InvalidTransition, decide, refuse_decision
from approvals.models import SlackMessage, Verdict, Via
from approvals.slack.blocks import APPROVE_ACTION, DENY_ACTION
from approvals.slack.links import LINK_MAX_AGE_S, make_link_url
from sgportal.audit import record_audit
from sgportal.models import AuditAction, Membership, SlackIdentity, Tenant
from sgportal.tenancy import Role, has_role, roles_at_least

VERDICTS = {APPROVE_ACTION: Verdict.APPROVE, DENY_ACTION: Verdict.DENY}
NOT_CONNECTED = "This Slack workspace is not connected to sgportal, so nothing was recorded."
UNKNOWN_BUTTON = "This button is not recognised (the message may be outdated). Nothing changed."


@dataclass(frozen=True)
class Reply:
    """The outcome of a click: ``text`` is shown to the clicking user only (empty: nothing)."""

    outcome: str  # decided, duplicate, refused, ignored
    text: str = ""


def _str(value) -> str:
    return value if isinstance(value, str) else ""


def handle_interaction(payload: dict) -> Reply:
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return Reply("ignored")
    team = payload.get("team") if isinstance(payload.get("team"), dict) else {}
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    team_id = _str(team.get("id")) or _str(user.get("team_id"))
    slack_user_id = _str(user.get("id"))
    actions = payload.get("actions") if isinstance(payload.get("actions"), list) else []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    verdict = VERDICTS.get(_str(action.get("action_id")))
    token = _str(action.get("value"))

    # One query for the common case: the button's message, within the clicking team's tenant.
    message = (
        SlackMessage.objects.select_related("change__tenant")
        # The click needs neither the raw record nor the tenant's secrets.
        .defer(
            "change__raw",
            "change__rules",
            "change__tenant__slack_bot_token",
            "change__tenant__eventbridge_secret",
        )
        .filter(
            action_token=token,
            change__tenant__slack_team_id=team_id,
            change__tenant__active=True,
        )
        .first()
        if token and verdict and slack_user_id and team_id
        else None
    )
    if message is None:
        team_tenant_id = (
            Tenant.objects.filter(slack_team_id=team_id, active=True)
            .values_list("pk", flat=True)
            .first()
            if team_id
            else None
        )
        if team_tenant_id and token and verdict:
            # A genuine (signed) click from a connected workspace on a button that is not its
            # tenant's: forged, stale or cross-tenant. Same answer as unknown, but recorded.
            record_audit(
                team_tenant_id,
                AuditAction.DECISION_REFUSED,
                actor=f"slack:{team_id}/{slack_user_id}",
                via=Via.SLACK,
                object_type="approvals.SlackMessage",
                after={"why": "button unknown in this workspace's tenant", "verdict": verdict},
            )
        # Unknown, or another tenant's button: the same answer.
        return Reply("refused", UNKNOWN_BUTTON if team_tenant_id else NOT_CONNECTED)
    tenant = message.change.tenant
    change = message.change
    slack_name = f"slack:{team_id}/{slack_user_id} ({_str(user.get('username')) or '?'})"

    identity = (
        SlackIdentity.objects.filter(
            tenant=tenant, team_id=team_id, slack_user_id=slack_user_id, verified_at__isnull=False
        )
        .select_related("user")
        # Whether the linked user is an approver, in the same query (the common case);
        # has_role() below stays the authority when this says no (e.g. superusers).
        .annotate(
            is_approver=Exists(
                Membership.objects.filter(
                    user_id=OuterRef("user_id"),
                    tenant_id=tenant.pk,
                    role__in=roles_at_least(Role.APPROVER),
                )
            )
        )
        .first()
    )
    if identity is None:
        with transaction.atomic():
            url = make_link_url(
                tenant, team_id, slack_user_id, _str(user.get("username")) or _str(user.get("name"))
            )
            refuse_decision(
                change,
                actor=slack_name,
                via=Via.SLACK,
                why="slack user not linked to a portal user",
                detail={"verdict": verdict, "slack_user_id": slack_user_id, "team_id": team_id},
            )
        minutes = LINK_MAX_AGE_S // 60
        return Reply(
            "refused",
            "Your Slack account is not linked to an sgportal user yet, so nothing was recorded.\n"
            f"To link it, open <{url}|this link> while logged in to sgportal (it works once, "
            f"for {minutes} minutes). You also need the approver role in {tenant.name}: "
            "ask a tenant admin if you do not have it. Then click again.",
        )
    portal_user = identity.user
    approver = identity.is_approver or has_role(portal_user, tenant.pk, Role.APPROVER)
    if not (portal_user.is_active and tenant.active and approver):
        refuse_decision(
            change,
            actor=portal_user,
            via=Via.SLACK,
            why="not an approver in this tenant",
            detail={"verdict": verdict, "slack_user_id": slack_user_id, "team_id": team_id},
        )
        return Reply(
            "refused",
            f"You are linked as {portal_user.get_username()}, but you are not an approver in "
            f"{tenant.name}, so nothing was recorded. Ask a tenant admin for the approver role.",
        )
    try:
        decide(change, verdict=verdict, actor=portal_user, via=Via.SLACK)
    except AlreadyDecided as exc:
        mine = exc.decision.user_id == portal_user.pk and exc.decision.verdict == verdict
        if mine:  # Slack redelivered the same click, or a double click: already done
            return Reply("duplicate")
        return Reply("refused", f"Not recorded: this change was {exc}.")
    except InvalidTransition as exc:
        return Reply("refused", f"Not recorded: {exc}.")
    return Reply("decided")
