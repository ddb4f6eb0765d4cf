"""What a verified Slack interaction means: map team -> tenant, Slack user -> approver, decide.

Called only with a payload whose signature has been checked. Every refusal returns a text
for the clicking user alone; refusals by a known tenant's user are audited.

Two kinds: a button click (``block_actions``), and the submission of the modal a Deny click
opens when the tenant requires a reason (``view_submission``). Both pass the same checks
(``_authorize``) and decide through the one ``decide``.

Fifty reviewers can click at once and Slack waits 3 s at most, so the common case costs
one read (``_load_click``, hand-written SQL: the ORM spent about 3 ms of CPU building the
two queries it replaces) and then ``decide``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, models, transaction

from approvals.actions import (
    AlreadyDecided,
    InvalidTransition,
    ReasonRequired,
    decide,
    refuse_decision,
)
from approvals.models import SlackMessage, SlackWorkspace, Verdict, Via
from approvals.policy.gate import NotInReviewerGroup, check_reviewer
from approvals.slack.blocks import (
    APPROVE_ACTION,
    DENY_ACTION,
    DENY_REASON_CALLBACK,
    MAX_REASON,
    REASON_ACTION,
    REASON_BLOCK,
    deny_reason_view,
    detail_url,
    escape_mrkdwn,
)
from approvals.slack.links import LINK_MAX_AGE_S, make_link_url
from approvals.slack.transport import SlackTransport, TransportError
from ingestion.models import ChangeStatus, SecurityGroupChange
from sgportal.audit import record_audit
from sgportal.models import AuditAction, Membership, SlackIdentity, Tenant
from sgportal.tenancy import Role, has_role, roles_at_least

log = logging.getLogger(__name__)

VERDICTS = {APPROVE_ACTION: Verdict.APPROVE, DENY_ACTION: Verdict.DENY}
# views.open happens while Slack waits (a trigger_id lives 3 s): it gets at most this long.
VIEWS_OPEN_TIMEOUT_S = 2
NOT_CONNECTED = "This Slack workspace is not connected to sgportal, so nothing was recorded."
UNKNOWN_BUTTON = "This button is not recognised (the message may be outdated). Nothing changed."


@dataclass(frozen=True)
class Reply:
    """The outcome of an interaction: ``text`` is shown to the clicking user only (empty:
    nothing); ``errors`` (block id -> message) are a submitted modal's field errors."""

    outcome: str  # decided, duplicate, refused, ignored, modal (opened), invalid, busy
    text: str = ""
    errors: dict[str, str] | None = None


def _str(value) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class _Click:
    """The button's change and tenant, and the clicking user if their link is verified."""

    change: SecurityGroupChange
    tenant: Tenant
    user: Any  # the portal user, or None when this Slack user has no verified link here
    is_approver: bool  # holds a membership of at least approver (superusers: see has_role)


# What the click needs of each row, and nothing else (no raw record, no secrets).
_CHANGE_COLUMNS = ("id", "tenant_id", "status", "event_id", "event_name", "group_id")
_TENANT_COLUMNS = ("id", "name", "deny_reason_required")
_USER_COLUMNS = ("id", "username", "email", "is_active", "is_superuser")


@cache
def _click_sql() -> str:
    table = {
        model: connection.ops.quote_name(model._meta.db_table)
        for model in (
            SlackMessage,
            SecurityGroupChange,
            Tenant,
            SlackWorkspace,
            SlackIdentity,
            Membership,
        )
    }
    user_table = connection.ops.quote_name(get_user_model()._meta.db_table)
    roles = ", ".join(["%s"] * len(roles_at_least(Role.APPROVER)))
    select = ", ".join(
        [f"c.{name}" for name in _CHANGE_COLUMNS]
        + [f"t.{name}" for name in _TENANT_COLUMNS]
        + [f"u.{name}" for name in _USER_COLUMNS]
    )
    # Only table names from the models' metadata are formatted in; values are parameters.
    return f"""
        SELECT {select}, EXISTS (
            SELECT 1 FROM {table[Membership]} m
            WHERE m.user_id = u.id AND m.tenant_id = t.id AND m.role IN ({roles})
        )
        FROM {table[SlackMessage]} msg
        JOIN {table[SecurityGroupChange]} c ON c.id = msg.change_id
        JOIN {table[Tenant]} t ON t.id = c.tenant_id
        JOIN {table[SlackWorkspace]} w ON w.tenant_id = t.id
        LEFT JOIN {table[SlackIdentity]} i ON i.tenant_id = t.id AND i.team_id = %s
            AND i.slack_user_id = %s AND i.verified_at IS NOT NULL
        LEFT JOIN {user_table} u ON u.id = i.user_id
        WHERE msg.action_token = %s AND w.team_id = %s AND t.active
    """  # noqa: S608


def _partial(model: type[models.Model], names: tuple[str, ...], values) -> models.Model:
    """A model instance with only these fields loaded (the others load on access, and
    ``save()`` writes only the loaded ones, as with ``QuerySet.only``)."""
    loaded = dict(zip(names, values, strict=True))
    attnames = [f.attname for f in model._meta.concrete_fields if f.attname in loaded]
    return model.from_db(connection.alias, attnames, [loaded[name] for name in attnames])


def _load_click(token: str, team_id: str, slack_user_id: str) -> _Click | None:
    """The button's message within the clicking team's active tenant, and who clicked."""
    params = [*roles_at_least(Role.APPROVER), team_id, slack_user_id, token, team_id]
    with connection.cursor() as cursor:
        cursor.execute(_click_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    change_end = len(_CHANGE_COLUMNS)
    tenant_end = change_end + len(_TENANT_COLUMNS)
    user_values = row[tenant_end:-1]
    return _Click(
        change=_partial(SecurityGroupChange, _CHANGE_COLUMNS, row[:change_end]),
        tenant=_partial(Tenant, _TENANT_COLUMNS, row[change_end:tenant_end]),
        user=(
            None
            if user_values[0] is None
            else _partial(get_user_model(), _USER_COLUMNS, user_values)
        ),
        is_approver=bool(row[-1]),
    )


def handle_interaction(payload: dict) -> Reply:
    if not isinstance(payload, dict):
        return Reply("ignored")
    if payload.get("type") == "block_actions":
        return _handle_click(payload)
    if payload.get("type") == "view_submission":
        return _handle_submission(payload)
    return Reply("ignored")


def _who(payload: dict) -> tuple[str, str, dict]:
    """The verified team id, the Slack user id, and the user object of a payload."""
    team = payload.get("team") if isinstance(payload.get("team"), dict) else {}
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    return _str(team.get("id")) or _str(user.get("team_id")), _str(user.get("id")), user


def _authorize(
    token: str,
    verdict: str | None,
    team_id: str,
    slack_user_id: str,
    user: dict,
    *,
    change_id: int | None = None,
) -> _Click | Reply:
    """The click's change and its linked approver, or the refusal to show (audited when a
    known tenant's user is refused). ``change_id``, when given, must be the token's change."""
    click = (
        _load_click(token, team_id, slack_user_id)
        if token and verdict and slack_user_id and team_id
        else None
    )
    if click is not None and change_id is not None and click.change.pk != change_id:
        click = None  # the token and the change named beside it disagree: not trusted
    if click is None:
        team_tenant_id = (
            Tenant.objects.filter(slack_workspace__team_id=team_id, active=True)
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
    tenant, change = click.tenant, click.change
    slack_name = f"slack:{team_id}/{slack_user_id} ({_str(user.get('username')) or '?'})"
    if click.user is None:
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
            f"for {minutes} minutes). You also need the approver role in "
            f"{escape_mrkdwn(tenant.name)}: "
            "ask a tenant admin if you do not have it. Then click again.",
        )
    portal_user = click.user
    approver = click.is_approver or has_role(portal_user, tenant.pk, Role.APPROVER)
    if not (portal_user.is_active and approver):  # the tenant is active: _load_click says so
        refuse_decision(
            change,
            actor=portal_user,
            via=Via.SLACK,
            why="not an approver in this tenant",
            detail={"verdict": verdict, "slack_user_id": slack_user_id, "team_id": team_id},
        )
        return Reply(
            "refused",
            f"You are linked as {escape_mrkdwn(portal_user.get_username())}, but you are not an "
            f"approver in {escape_mrkdwn(tenant.name)}, so nothing was recorded. Ask a tenant "
            "admin for the approver role.",
        )
    return click


def _decide(click: _Click, verdict: str, reason: str = "") -> Reply:
    """``decide`` for the authorized clicker; its refusals as texts (ReasonRequired is the
    caller's: a click opens the reason modal then)."""
    portal_user = click.user
    try:
        decide(click.change, verdict=verdict, actor=portal_user, via=Via.SLACK, reason=reason)
    except AlreadyDecided as exc:
        mine = exc.decision.user_id == portal_user.pk and exc.decision.verdict == verdict
        if mine:  # Slack redelivered the same click, or a double click: already done
            return Reply("duplicate")
        return Reply("refused", f"Not recorded: this change was {escape_mrkdwn(exc)}.")
    except (InvalidTransition, NotInReviewerGroup) as exc:
        return Reply("refused", f"Not recorded: {escape_mrkdwn(exc)}.")
    return Reply("decided")


def _handle_click(payload: dict) -> Reply:
    team_id, slack_user_id, user = _who(payload)
    actions = payload.get("actions") if isinstance(payload.get("actions"), list) else []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    verdict = VERDICTS.get(_str(action.get("action_id")))
    token = _str(action.get("value"))
    click = _authorize(token, verdict, team_id, slack_user_id, user)
    if isinstance(click, Reply):
        return click
    trigger_id = _str(payload.get("trigger_id"))
    if (
        verdict == Verdict.DENY
        and click.tenant.deny_reason_required
        and click.change.status == ChangeStatus.PENDING
    ):
        # A decided change falls through to decide(), which says who was first.
        return _open_reason_modal(click, token, trigger_id)
    try:
        return _decide(click, verdict)
    except ReasonRequired:  # the switch went on since the read above
        return _open_reason_modal(click, token, trigger_id)


def _open_reason_modal(click: _Click, token: str, trigger_id: str) -> Reply:
    """Ask for the deny's reason in a modal (views.open, inline: the trigger lives 3 s)."""
    change = click.change
    try:
        check_reviewer(change, click.user, Via.SLACK)  # no form for who may not decide
    except NotInReviewerGroup as exc:
        return Reply("refused", f"Not recorded: {escape_mrkdwn(exc)}.")
    change = SecurityGroupChange.objects.get(pk=change.pk, tenant_id=click.tenant.pk)
    metadata = json.dumps({"change": change.pk, "token": token}, separators=(",", ":"))
    fallback = (
        f"Deny it with your reason on <{detail_url(change)}|the change page>. Nothing was recorded."
    )
    if not trigger_id:
        return Reply("refused", f"Slack sent no trigger to open the reason form. {fallback}")
    try:
        SlackTransport(click.tenant, timeout_s=VIEWS_OPEN_TIMEOUT_S).open_view(
            trigger_id, deny_reason_view(change, metadata)
        )
    except TransportError as exc:
        log.warning("views.open for change %s failed: %s", change.pk, exc)
        if exc.settings_broken:  # a revoked or wrong token: what delivery would find too
            SlackWorkspace.of(click.tenant).mark_broken(str(exc))
        return Reply("refused", f"The reason form could not be opened ({exc}). {fallback}")
    return Reply("modal")


def _submitted(payload: dict) -> tuple[int | None, str, str] | None:
    """(change id, button token, reason) of a submitted reason modal; None for another view."""
    view = payload.get("view") if isinstance(payload.get("view"), dict) else {}
    if view.get("callback_id") != DENY_REASON_CALLBACK:
        return None
    try:
        metadata = json.loads(_str(view.get("private_metadata")) or "{}")
    except ValueError:
        metadata = {}
    metadata = metadata if isinstance(metadata, dict) else {}
    change_id = metadata.get("change")
    change_id = change_id if isinstance(change_id, int) and not isinstance(change_id, bool) else 0
    state = view.get("state") if isinstance(view.get("state"), dict) else {}
    values = state.get("values") if isinstance(state.get("values"), dict) else {}
    block = values.get(REASON_BLOCK) if isinstance(values.get(REASON_BLOCK), dict) else {}
    field = block.get(REASON_ACTION) if isinstance(block.get(REASON_ACTION), dict) else {}
    return change_id, _str(metadata.get("token")), _str(field.get("value"))


def _handle_submission(payload: dict) -> Reply:
    """The reason modal submitted: the same checks as a click, then decide(deny, reason)."""
    submitted = _submitted(payload)
    if submitted is None:
        return Reply("ignored")
    change_id, token, reason = submitted
    team_id, slack_user_id, user = _who(payload)
    # private_metadata is only a pointer: the token must be a button of the verified team's
    # tenant, for this very change, and the submitter a linked approver there.
    click = _authorize(token, Verdict.DENY, team_id, slack_user_id, user, change_id=change_id)
    if isinstance(click, Reply):
        return click
    reason = reason.strip()
    if not reason:
        return Reply("invalid", errors={REASON_BLOCK: "Give a reason: a deny needs one here."})
    if len(reason) > MAX_REASON:
        return Reply("invalid", errors={REASON_BLOCK: f"At most {MAX_REASON} characters, please."})
    return _decide(click, Verdict.DENY, reason)
