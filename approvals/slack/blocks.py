"""Block Kit for the message about one change: what, where, who, and the buttons.

The buttons carry only ``SlackMessage.action_token`` (random, meaningless elsewhere). Once
a decision exists the buttons give way to who decided and when, and later to the revert's
outcome.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.urls import reverse

from approvals import wording
from approvals.models import Decision, SlackMessage, Verdict
from ingestion.models import ChangeStatus, SecurityGroupChange
from sgportal.models import Tenant

MAX_RULES = 20
APPROVE_ACTION = "approve"
DENY_ACTION = "deny"
# The modal asking for a deny's reason (tenants with deny_reason_required on).
DENY_REASON_CALLBACK = "deny_reason"
REASON_BLOCK = "reason"
REASON_ACTION = "reason"
MAX_REASON = 1000
OUTCOME_TEXT = {
    "reverted": ":white_check_mark: Reverted: the rules are gone.",
    "auto_reverted": ":white_check_mark: Auto-reverted by policy: the rules are gone.",
    "revert_failed": ":x: Revert failed",
    "dry_run": ":test_tube: Dry run: the revert was planned and permitted, nothing changed.",
    "undone": ":leftwards_arrow_with_hook: Revert undone: the rules are back.",
    "undo_failed": ":x: Undoing the revert failed",
}


def escape_mrkdwn(text: object) -> str:
    """Slack's escaping of &, < and > (in that order) for any user- or tenant-controlled text
    put into mrkdwn or a message's ``text``: without it ``<!channel>`` pings a channel and
    ``<https://evil|Open>`` becomes a link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_escape = escape_mrkdwn


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "unknown time"
    stamp = int(value.timestamp())
    fallback = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{fallback}>"


def detail_url(change: SecurityGroupChange) -> str:
    return settings.SITE_URL + reverse("approvals:change_detail", args=[change.pk])


def summary_text(change: SecurityGroupChange) -> str:
    """The plain-text fallback (notifications, screen readers)."""
    severity = wording.severity_of(change)
    return _escape(
        f"{severity.label.capitalize()}: {change.event_name} on {change.group_id or '?'} "
        f"in {wording.account_of(change)} / {change.region or '?'}"
    )


def _rules_text(change: SecurityGroupChange) -> str:
    rules = wording.rules_of(change)
    if not rules:
        return "_No rule details in this event._"
    words = wording.rules_in_words(change, limit=MAX_RULES)
    lines = [f"• `{_escape(text)}`" for text in words]
    if len(rules) > MAX_RULES:
        lines.append(f"…and {len(rules) - MAX_RULES} more (see the web page)")
    return "\n".join(lines)[:2900]


def _decision_text(decision: Decision) -> str:
    verb = {
        Verdict.APPROVE: ":white_check_mark: Approved",
        Verdict.DENY: ":no_entry: Denied",
        Verdict.UNDO_REVERT: ":leftwards_arrow_with_hook: Revert undo requested",
    }[decision.verdict]
    reason = f" — “{_escape(decision.reason)}”" if decision.reason else ""
    return (
        f"{verb} by *{_escape(decision.actor_name)}* via {decision.via} "
        f"at {_when(decision.decided_at)}{reason}"
    )


def _time_left(change: SecurityGroupChange) -> str:
    from approvals.policy.deadlines import time_left
    from approvals.policy.models import PolicyMatch

    return time_left(PolicyMatch.objects.filter(pk=change.pk).first())


def latest_finished_attempt(change: SecurityGroupChange):
    """The change's latest finished revert or undo attempt (issue 11: the result belongs to
    the change, read through remediation's relation; approvals never imports remediation)."""
    return change.revert_attempts.exclude(status="running").order_by("-id").first()


def attempt_detail(attempt) -> str:
    """What a finished attempt says: its error for a failure, else its detail."""
    if attempt.status == "failed" and attempt.error_code:
        return f"{attempt.error_code}: {attempt.detail}" if attempt.detail else attempt.error_code
    return attempt.detail or ""


def reason_required(change: SecurityGroupChange) -> bool:
    """Whether the change's tenant requires a reason for a deny (Tenant.deny_reason_required):
    then Deny opens a modal asking for it instead of a confirm dialog."""
    return bool(
        Tenant.objects.filter(pk=change.tenant_id)
        .values_list("deny_reason_required", flat=True)
        .first()
    )


def _deny_button(change: SecurityGroupChange, token: str) -> dict:
    reverts = wording.deny_reverts(change)
    button = {
        "type": "button",
        "action_id": DENY_ACTION,
        "text": {"type": "plain_text", "text": "Deny (revert)" if reverts else "Deny"},
        "style": "danger",
        "value": token,
    }
    if not reason_required(change):  # else the reason modal is the confirmation
        button["confirm"] = {
            "title": {"type": "plain_text", "text": "Deny this change?"},
            "text": {"type": "mrkdwn", "text": _escape(wording.deny_effect(change))},
            "confirm": {"type": "plain_text", "text": _deny_label(change)},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return button


def _deny_label(change: SecurityGroupChange) -> str:
    return "Deny and revert" if wording.deny_reverts(change) else "Deny"


def deny_reason_view(change: SecurityGroupChange, private_metadata: str) -> dict:
    """The modal a Deny click opens when a reason is required: the change in words, what
    denying does, and a required reason box. ``private_metadata`` finds the change again
    (it is checked again on submission, never trusted)."""
    return {
        "type": "modal",
        "callback_id": DENY_REASON_CALLBACK,
        "title": {"type": "plain_text", "text": "Deny change"},
        "submit": {"type": "plain_text", "text": _deny_label(change)},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": private_metadata,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{summary_text(change)}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _rules_text(change)}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _escape(wording.deny_effect(change))}],
            },
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": False,
                "label": {"type": "plain_text", "text": "Reason (required to deny)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": MAX_REASON,
                    "placeholder": {"type": "plain_text", "text": "Why may this change not stay?"},
                },
            },
        ],
    }


def notice_view(text: str, *, title: str = "Deny change") -> dict:
    """A modal that only says ``text`` (mrkdwn, escaped by the caller): what became of a
    submitted deny that was not recorded."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}],
    }


def build_blocks(message: SlackMessage) -> list[dict]:
    """The full message for the change in its current state."""
    change = message.change
    severity = wording.severity_of(change)
    header = f"{severity.label.capitalize()}: {change.event_name}"[:150]
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Account*\n{_escape(wording.account_of(change))}"},
                {"type": "mrkdwn", "text": f"*Region*\n{_escape(change.region or '?')}"},
                {"type": "mrkdwn", "text": f"*Group*\n{_escape(wording.group_of(change))}"},
                {"type": "mrkdwn", "text": f"*Severity*\n{severity.emoji} {severity.label}"},
            ],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Rules*\n{_rules_text(change)}"}},
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": f"*Who*\n{_escape(change.actor_type or '?')}: "
                    f"`{_escape(change.actor_arn or '?')}`",
                },
                {"type": "mrkdwn", "text": f"*With*\n{_escape(wording.tool_of(change))}"},
                {"type": "mrkdwn", "text": f"*From IP*\n{_escape(change.source_ip or '?')}"},
                {"type": "mrkdwn", "text": f"*When*\n{_when(change.event_time)}"},
            ],
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"<{detail_url(change)}|Open in sgportal> · "
                    f"event `{_escape(change.event_id)}`",
                }
            ],
        },
    ]
    decisions = list(change.decisions.order_by("decided_at"))
    if change.status == ChangeStatus.PENDING and not decisions:
        left = _time_left(change)  # policies (issue 15)
        if left:
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": f":hourglass: {left}"}]}
            )
        blocks.append(
            {
                "type": "actions",
                "block_id": "decision",
                "elements": [
                    {
                        "type": "button",
                        "action_id": APPROVE_ACTION,
                        "text": {"type": "plain_text", "text": "Approve"},
                        "style": "primary",
                        "value": message.action_token,
                    },
                    _deny_button(change, message.action_token),
                ],
            }
        )
    for decision in decisions:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _decision_text(decision)}}
        )
    attempt = latest_finished_attempt(change)
    if attempt is not None:
        text = OUTCOME_TEXT.get(attempt.outcome, f"Revert: {attempt.outcome}")
        detail = attempt_detail(attempt)
        if detail:
            text += f": {_escape(detail)[:1500]}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    elif decisions and decisions[-1].verdict == Verdict.DENY:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": ":hourglass: Reverting…"}]}
        )
    return blocks
