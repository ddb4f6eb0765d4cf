"""Per-rule rate limit of Slack notifications, and the grouped message for the rest.

Each rule may post ``notify_limit`` individual messages per ``notify_window_s`` (a Redis
counter per tenant, rule and window, shared by every worker). Beyond that, a change joins
the window's ``NotificationDigest``: one message with the list, posted when the window
ends. Every change still gets its own decision (web queue, API, deadline); only the Slack
noise is grouped. Without Redis the limit is not applied (each change posts on its own).
"""

from __future__ import annotations

import datetime as dt
import logging

import redis
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from approvals.policy.engine import Evaluation
from approvals.policy.models import DigestStatus, NotificationDigest
from approvals.slack.blocks import escape_mrkdwn
from approvals.slack.delivery import queue_notification, why_slack_unusable
from approvals.slack.transport import SlackTransport, TransportError
from ingestion.models import SecurityGroupChange
from sgportal import publish
from sgportal.broker import broker_redis
from sgportal.models import Tenant

log = logging.getLogger(__name__)
MAX_LISTED = 40


def tenant_channel(tenant: Tenant) -> str:
    """The tenant's default Slack channel (one place to change when Slack settings move)."""
    from approvals.models import SlackWorkspace

    return SlackWorkspace.of(tenant).channel_id


def _key(outcome: Evaluation) -> str:
    return f"rule-{outcome.rule_id}" if outcome.rule_id else outcome.name[:180]


def _window(now: dt.datetime, seconds: int) -> dt.datetime:
    stamp = int(now.timestamp()) // seconds * seconds
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC)


def _count(tenant_id: int, key: str, window: dt.datetime, seconds: int) -> int | None:
    """This window's number of notifications for the rule, this one included (None: no Redis)."""
    name = f"sgportal:policy:notify:{tenant_id}:{key}:{int(window.timestamp())}"
    try:
        client = broker_redis(socket_timeout=2, connect_timeout=2)
        pipe = client.pipeline()
        pipe.incr(name)
        pipe.expire(name, seconds + 60)
        return int(pipe.execute()[0])
    except redis.RedisError as exc:
        log.warning("notification rate limit unavailable (%s): posting individually", exc)
        return None


def notify(change: SecurityGroupChange, outcome: Evaluation) -> str:
    """Post about ``change`` on its own, or add it to its rule's digest; 'single' or 'grouped'.

    Runs inside the policy step's transaction; posts go out after commit.
    """
    seconds = max(1, outcome.notify_window_s or 60)
    now = timezone.now()
    window = _window(now, seconds)
    key = _key(outcome)
    count = _count(change.tenant_id, key, window, seconds) if outcome.notify_limit else None
    if count is None or count <= outcome.notify_limit:
        queue_notification(change, channel=outcome.slack_channel)
        return "single"
    due = window + dt.timedelta(seconds=seconds)
    digest, created = NotificationDigest.objects.select_for_update().get_or_create(
        tenant_id=change.tenant_id,
        key=key,
        window_start=window,
        defaults={"channel": outcome.slack_channel, "due_at": due, "change_ids": [change.pk]},
    )
    if not created:
        digest.change_ids = [*digest.change_ids, change.pk]
        digest.save(update_fields=["change_ids"])
    else:
        from approvals.policy import tasks

        digest_id = digest.pk
        delay = max(0.0, (due - now).total_seconds())
        transaction.on_commit(
            lambda: publish.enqueue(tasks.post_digest, [digest_id], countdown=delay)
        )
    return "grouped"


def digest_text(digest: NotificationDigest) -> str:
    changes = list(
        SecurityGroupChange.objects.filter(pk__in=digest.change_ids[:MAX_LISTED]).order_by("pk")
    )
    total = len(digest.change_ids)
    lines = [
        f"*{total} more changes* matched {escape_mrkdwn(digest.key)} in one burst; "
        "each waits for its own decision in the queue:"
    ]
    for change in changes:
        url = settings.SITE_URL + reverse("approvals:change_detail", args=[change.pk])
        lines.append(
            f"• <{url}|{escape_mrkdwn(change.event_name)} {escape_mrkdwn(change.group_id or '?')}>"
            f" by `{escape_mrkdwn(change.actor_arn or '?')}`"
        )
    if total > MAX_LISTED:
        lines.append(f"…and {total - MAX_LISTED} more in the web queue.")
    return "\n".join(lines)[:3900]


def post_digest(digest_id: int) -> str:
    """Post the digest once (claimed by a conditional UPDATE); its final state."""
    now = timezone.now()
    claimed = NotificationDigest.objects.filter(
        pk=digest_id, status=DigestStatus.OPEN, due_at__lte=now
    ).update(status=DigestStatus.POSTING)
    if not claimed:
        return "skipped"
    digest = NotificationDigest.objects.select_related("tenant").get(pk=digest_id)
    tenant = digest.tenant
    if why_slack_unusable(tenant):
        NotificationDigest.objects.filter(pk=digest_id).update(
            status=DigestStatus.FAILED, last_error=why_slack_unusable(tenant) or ""
        )
        return "failed"
    try:
        ts = SlackTransport(tenant).post_text(digest.channel, digest_text(digest))
    except TransportError as exc:
        status = DigestStatus.FAILED if exc.permanent else DigestStatus.OPEN
        NotificationDigest.objects.filter(pk=digest_id).update(status=status, last_error=str(exc))
        return "failed" if exc.permanent else "retry"
    NotificationDigest.objects.filter(pk=digest_id).update(status=DigestStatus.POSTED, ts=ts)
    return "posted"


def resume_digests(now: dt.datetime, stale_after_s: int = 120) -> int:
    """Queue again the digests whose task was lost (still open well after they were due)."""
    from approvals.policy import tasks

    late = NotificationDigest.objects.filter(
        status=DigestStatus.OPEN, due_at__lte=now - dt.timedelta(seconds=stale_after_s)
    ).values_list("pk", flat=True)[:500]
    ids = list(late)
    for digest_id in ids:
        publish.enqueue(tasks.post_digest, [digest_id])
    return len(ids)
