"""Actions behind the Slack tasks: queue, post and refresh a change's message.

Tasks stay thin (take an id, call one of these, retry on ``RetryLater``). Permanent Slack
errors flag the tenant's Slack settings as broken (audited) and are never retried; a
message that could not go out because of the settings is ``skipped``, and
``approvals.sweeps`` sends it once the settings work again.

Every hand-off of a post to the broker (first post, pacing, retry) records when its task is
due (``SlackMessage.due_at``): a post overdue by much more lost its task, and
``approvals.sweeps`` queues it again. The worker that claims a post leases it
(``leased_until``), so two copies of the task never post at the same time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from approvals.models import SlackMessage, SlackMessageStatus, SlackWorkspace
from approvals.slack import ratelimit
from approvals.slack.transport import SlackTransport, TransportError
from ingestion.models import ChangeStatus, SecurityGroupChange
from sgportal import publish
from sgportal.models import Tenant

log = logging.getLogger(__name__)

# The tasks behind these actions, enqueued by name (approvals.tasks imports this module).
POST_TASK = "approvals.tasks.post_slack_message"
UPDATE_TASK = "approvals.tasks.update_slack_message"
# A post whose slot is further away than this is re-enqueued with a countdown instead of
# holding a worker while it sleeps.
MAX_INLINE_WAIT_S = 1.5
# How long a claimed post is reserved for the worker that claimed it: far longer than one
# chat.postMessage may take (10 s timeout). A copy of the task arriving meanwhile does nothing.
POST_LEASE_S = 120


class RetryLater(Exception):
    """A transient failure; retry after ``countdown`` seconds (None: the task's backoff)."""

    def __init__(self, message: str, countdown: float | None = None):
        super().__init__(message)
        self.countdown = countdown


@dataclass(frozen=True)
class DeliveryResult:
    """What one post or refresh of a Slack message did (``state``), and any wait before it."""

    state: str  # posted, updated, skipped, failed, gone, rescheduled
    delay: float = 0.0


def why_slack_unusable(tenant: Tenant) -> str | None:
    """Why the tenant's Slack cannot be used now, or None when it can."""
    return SlackWorkspace.of(tenant).why_unusable()


def queue_notification(change: SecurityGroupChange, channel: str = "") -> SlackMessage:
    """Create the change's message row and post it after commit (once per change);
    ``channel``: where a policy rule asks (empty: the tenant's channel)."""
    message, created = SlackMessage.objects.get_or_create(
        change=change, defaults={"due_at": timezone.now(), "channel": channel}
    )
    if not created:
        return message
    why_not = why_slack_unusable(change.tenant)
    if why_not:
        SlackMessage.objects.filter(pk=message.pk).update(
            status=SlackMessageStatus.SKIPPED, last_error=why_not
        )
        return message
    message_id = message.pk
    transaction.on_commit(lambda: publish.enqueue(POST_TASK, [message_id]))
    return message


def queue_refresh(change_id: int) -> None:
    """Re-render the change's posted message after commit (decision, revert outcome).

    The task looks the message up itself, so a decision costs the request no extra query.
    """
    transaction.on_commit(lambda: publish.enqueue(UPDATE_TASK, [change_id]))


def not_leased(now) -> Q:
    """Messages no worker is posting right now."""
    return Q(leased_until__isnull=True) | Q(leased_until__lt=now)


def postpone(message_id: int, seconds: float) -> None:
    """The post's task goes back to the broker to run in ``seconds`` (a retry, pacing)."""
    SlackMessage.objects.filter(pk=message_id, status=SlackMessageStatus.PENDING).update(
        due_at=timezone.now() + timedelta(seconds=seconds)
    )


def _load(**lookup) -> SlackMessage | None:
    """The message with what rendering it needs (its change, tenant and account)."""
    return (
        SlackMessage.objects.select_related("change__tenant__slack_workspace", "change__account")
        .filter(**lookup)
        .first()
    )


def _fail(message: SlackMessage, exc: TransportError) -> DeliveryResult:
    # The settings' fault (token, channel): skipped, and sent again once they are fixed.
    # The message's own fault: failed for good.
    status = SlackMessageStatus.SKIPPED if exc.settings_broken else SlackMessageStatus.FAILED
    SlackMessage.objects.filter(pk=message.pk).update(
        status=status, last_error=str(exc), leased_until=None
    )
    if exc.settings_broken:
        SlackWorkspace.of(message.change.tenant).mark_broken(str(exc))
    return DeliveryResult("failed")


def deliver(message_id: int, *, slot_booked: bool = False) -> DeliveryResult:
    """Post the message once: pace per channel, record channel/ts, sort errors."""
    message = _load(pk=message_id)
    if message is None:
        return DeliveryResult("gone")
    if message.status != SlackMessageStatus.PENDING or message.ts:
        return DeliveryResult("skipped")
    tenant = message.change.tenant
    workspace = SlackWorkspace.of(tenant)
    why_not = workspace.why_unusable()
    if why_not:
        SlackMessage.objects.filter(pk=message.pk).update(
            status=SlackMessageStatus.SKIPPED, last_error=why_not
        )
        return DeliveryResult("skipped")
    if not slot_booked:
        wait = ratelimit.reserve(message.channel or workspace.channel_id)
        if wait > MAX_INLINE_WAIT_S:
            postpone(message.pk, wait)
            return DeliveryResult("rescheduled", delay=wait)
        if wait > 0:
            time.sleep(wait)
    # Claim this attempt: a copy of the task running at the same time changes no row.
    now = timezone.now()
    claimed = (
        SlackMessage.objects.filter(
            pk=message.pk, status=SlackMessageStatus.PENDING, attempts=message.attempts
        )
        .filter(not_leased(now))
        .update(attempts=F("attempts") + 1, leased_until=now + timedelta(seconds=POST_LEASE_S))
    )
    if not claimed:
        return DeliveryResult("skipped")
    try:
        channel, ts = SlackTransport(tenant).notify(message)
    except TransportError as exc:
        if exc.permanent:
            return _fail(message, exc)
        SlackMessage.objects.filter(pk=message.pk).update(last_error=str(exc), leased_until=None)
        if exc.retry_after:
            ratelimit.push_back(message.channel or workspace.channel_id, exc.retry_after)
        raise RetryLater(str(exc), countdown=exc.retry_after) from exc
    now = timezone.now()
    SlackMessage.objects.filter(pk=message.pk).update(
        status=SlackMessageStatus.POSTED,
        channel=channel,
        ts=ts,
        posted_at=now,
        last_error="",
        leased_until=None,
    )
    # A first successful post proves the settings work.
    workspace.mark_ok(first_post=True)
    # Decided while we were posting? Then the posted buttons may be stale: refresh.
    status = SecurityGroupChange.objects.filter(pk=message.change_id).values_list(
        "status", flat=True
    )
    if status.first() != ChangeStatus.PENDING:
        queue_refresh(message.change_id)
    return DeliveryResult("posted")


def refresh(change_id: int) -> DeliveryResult:
    """chat.update the change's posted message to show its decision and revert outcome."""
    message = _load(change_id=change_id)
    if message is None:
        return DeliveryResult("gone")
    if message.status != SlackMessageStatus.POSTED or not message.ts:
        return DeliveryResult("skipped")  # the post, when it happens, renders the current state
    tenant = message.change.tenant
    workspace = SlackWorkspace.of(tenant)
    if not workspace.bot_token:
        return DeliveryResult("skipped")
    try:
        SlackTransport(tenant).update(message)
    except TransportError as exc:
        SlackMessage.objects.filter(pk=message.pk).update(last_error=str(exc))
        if exc.permanent:
            if exc.settings_broken:
                workspace.mark_broken(str(exc))
            return DeliveryResult("failed")
        if exc.retry_after:
            ratelimit.push_back(message.channel, exc.retry_after)
        raise RetryLater(str(exc), countdown=exc.retry_after) from exc
    SlackMessage.objects.filter(pk=message.pk).update(updated_at=timezone.now(), last_error="")
    return DeliveryResult("updated")


def give_up(message_id: int, error: str) -> None:
    """Retries exhausted: record it on the row (the tenant's settings may still be fine)."""
    SlackMessage.objects.filter(pk=message_id, status=SlackMessageStatus.PENDING).update(
        status=SlackMessageStatus.FAILED, last_error=f"gave up after retries: {error}"
    )


def refresh_after_revert(change_id: int) -> None:
    """A revert attempt finished: re-render the change's message, if it has one (the
    outcome is read from the attempt itself)."""
    if SlackMessage.objects.filter(change_id=change_id).exists():
        queue_refresh(change_id)
