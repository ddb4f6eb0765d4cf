"""The notification sweep: what Slack should show but was never sent.

A pending change can sit in the queue with no Slack message for three reasons:

1. the policy step never ran: its task was never published (broker down when the page was
   stored) or was lost (broker restarted without persistence). The change has no
   SlackMessage row;
2. the post's own task was lost the same way: the row is still ``pending``, no worker
   holds it, long after ``due_at``;
3. Slack could not be used (not configured, or broken settings): the row is ``skipped``;
   once the tenant's settings work again, the message is sent after all.

4. And a posted message can go on showing buttons for a change decided or reverted
   since, when the update's task was lost: it is refreshed.

The beat task ``approvals.tasks.resume_notifications`` runs this every
``SGPORTAL_NOTIFY_SWEEP_INTERVAL_S``. Every step is safe to repeat: the policy step only
touches pending changes without a message, a post is claimed once (see
``approvals.slack.delivery``), and a refresh renders the change as it is.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from approvals import policy
from approvals.models import SlackMessage, SlackMessageStatus, SlackWorkspace
from approvals.slack.delivery import POST_TASK, UPDATE_TASK, not_leased
from ingestion.models import ChangeStatus, SecurityGroupChange
from sgportal import publish

log = logging.getLogger(__name__)

# Each kind of repair handles at most this many rows per sweep; the next sweep goes on.
BATCH = 500
# Skipped messages are sent again, and stale ones refreshed, only for changes this recent:
# a tenant turning Slack on after months of reviewing on the web does not get its whole
# backlog posted.
RECENT = timedelta(days=1)


def resume_notifications(stale_after_s: int) -> dict[str, int]:
    """Make every repair once; returns how many changes or messages each one handled."""
    cutoff = timezone.now() - timedelta(seconds=stale_after_s)
    counts = {
        "policy": _run_lost_policy_steps(cutoff),
        "lost_posts": _requeue_lost_posts(cutoff),
        "skipped": _resend_skipped(),
        "stale_updates": _refresh_stale_messages(cutoff),
    }
    if any(counts.values()):
        log.warning("notification sweep repaired %s", counts)
    return counts


def _run_lost_policy_steps(cutoff) -> int:
    rows = (
        SecurityGroupChange.objects.filter(
            status=ChangeStatus.PENDING,
            ingested_at__lt=cutoff,
            slack_message__isnull=True,
            tenant__active=True,
        )
        .order_by("pk")
        .values_list("tenant_id", "pk")[:BATCH]
    )
    by_tenant: dict[int, list[int]] = defaultdict(list)
    for tenant_id, change_id in rows:
        by_tenant[tenant_id].append(change_id)
    for tenant_id, change_ids in by_tenant.items():
        policy.apply_policy(tenant_id, change_ids)
    return sum(len(ids) for ids in by_tenant.values())


def _requeue_lost_posts(cutoff) -> int:
    due_long_ago = Q(due_at__lt=cutoff) | Q(due_at__isnull=True, created_at__lt=cutoff)
    overdue = due_long_ago & not_leased(timezone.now())
    lost = list(
        SlackMessage.objects.filter(overdue, status=SlackMessageStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    # Still overdue and free when moved: a worker that claimed the post meanwhile keeps it.
    return sum(_queue_post(pk, overdue & Q(status=SlackMessageStatus.PENDING)) for pk in lost)


def _resend_skipped() -> int:
    skipped = _in_usable_tenants(
        SlackMessage.objects.filter(
            status=SlackMessageStatus.SKIPPED,
            change__status=ChangeStatus.PENDING,
            change__ingested_at__gte=timezone.now() - RECENT,
        )
    )
    resend = list(skipped.order_by("pk").values_list("pk", flat=True)[:BATCH])
    return sum(_queue_post(pk, Q(status=SlackMessageStatus.SKIPPED)) for pk in resend)


def _refresh_stale_messages(cutoff) -> int:
    """Posted messages last rendered before their change's latest status change."""
    stale = _in_usable_tenants(
        SlackMessage.objects.annotate(rendered_at=Coalesce("updated_at", "posted_at"))
        .filter(
            status=SlackMessageStatus.POSTED,
            last_error="",  # a refresh Slack refused is visible in admin, not retried forever
            change__status_changed_at__lt=cutoff,
            change__status_changed_at__gte=timezone.now() - RECENT,
            rendered_at__lt=F("change__status_changed_at"),
        )
        .exclude(ts="")
    )
    change_ids = list(stale.order_by("pk").values_list("change_id", flat=True)[:BATCH])
    for change_id in change_ids:
        publish.enqueue(UPDATE_TASK, [change_id])
    return len(change_ids)


def _in_usable_tenants(messages):
    """Only messages of active tenants whose Slack can be used now."""
    messages = messages.filter(change__tenant__active=True)
    tenant_ids = set(messages.values_list("change__tenant_id", flat=True).distinct())
    workspaces = SlackWorkspace.objects.filter(tenant_id__in=tenant_ids)
    usable = [w.tenant_id for w in workspaces if not w.why_unusable()]
    return messages.filter(change__tenant_id__in=usable)


def _queue_post(message_id: int, still: Q) -> bool:
    """If the message is ``still`` as found, make it due now and hand its post to the
    broker; False when it moved on meanwhile."""
    moved = SlackMessage.objects.filter(still, pk=message_id).update(
        status=SlackMessageStatus.PENDING, due_at=timezone.now()
    )
    if moved:
        publish.enqueue(POST_TASK, [message_id])
    return bool(moved)
