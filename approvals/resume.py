"""The notification sweep: changes waiting for a decision that nobody was told about.

A pending change can sit in the queue with no Slack message for three reasons:

1. the policy step never ran: its task was never published (broker down when the page was
   stored) or was lost (broker restarted without persistence). The change has no
   SlackMessage row;
2. the post's own task was lost the same way: the row is still ``pending``, no worker
   holds it, long after ``due_at``;
3. Slack could not be used (not configured, or broken settings): the row is ``skipped``;
   once the tenant's settings work again, the message is sent after all.

The beat task ``approvals.tasks.resume_notifications`` runs this every
``SGPORTAL_NOTIFY_SWEEP_INTERVAL_S``. Every step is safe to repeat: the policy step only
touches pending changes without a message, and a post is claimed once (see
``approvals.slack.delivery``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from approvals import policy
from approvals.models import SlackMessage, SlackMessageStatus
from approvals.slack.delivery import not_leased, slack_usable
from ingestion.models import ChangeStatus, SecurityGroupChange
from sgportal.models import Tenant

log = logging.getLogger(__name__)

# Each kind of repair handles at most this many rows per sweep; the next sweep goes on.
BATCH = 500
# Skipped messages are sent again only for changes this recent: a tenant turning Slack on
# after months of reviewing on the web does not get its whole backlog posted.
RESEND_SKIPPED_WITHIN = timedelta(days=1)


def resume_notifications(stale_after_s: int) -> dict[str, int]:
    """Repair all three cases; returns how many changes or messages each one handled."""
    cutoff = timezone.now() - timedelta(seconds=stale_after_s)
    counts = {
        "policy": _run_lost_policy_steps(cutoff),
        "lost_posts": _requeue_lost_posts(cutoff),
        "skipped": _resend_skipped(),
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
    since = timezone.now() - RESEND_SKIPPED_WITHIN
    skipped = SlackMessage.objects.filter(
        status=SlackMessageStatus.SKIPPED,
        change__status=ChangeStatus.PENDING,
        change__ingested_at__gte=since,
        change__tenant__active=True,
    )
    tenant_ids = set(skipped.values_list("change__tenant_id", flat=True).distinct())
    usable = [t.pk for t in Tenant.objects.filter(pk__in=tenant_ids) if not slack_usable(t)]
    resend = list(
        skipped.filter(change__tenant_id__in=usable)
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    return sum(_queue_post(pk, Q(status=SlackMessageStatus.SKIPPED)) for pk in resend)


def _queue_post(message_id: int, still: Q) -> bool:
    """If the message is ``still`` as found, make it due now and hand its post to the
    broker; False when it moved on meanwhile."""
    from approvals import tasks

    moved = SlackMessage.objects.filter(still, pk=message_id).update(
        status=SlackMessageStatus.PENDING, due_at=timezone.now()
    )
    if moved:
        tasks.post_slack_message.delay(message_id)
    return bool(moved)
