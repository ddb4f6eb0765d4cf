"""Celery tasks of webhooks: thin, by id; the work is in ``approvals.webhooks.actions``."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from approvals.webhooks import actions
from sgportal import publish


@shared_task(acks_late=True)
def deliver_due(webhook_id: int) -> None:
    retry_at = actions.deliver_due(webhook_id)
    if retry_at is not None:
        countdown = max(1.0, (retry_at - timezone.now()).total_seconds())
        publish.enqueue(deliver_due, [webhook_id], countdown=countdown)


@shared_task
def resume_deliveries() -> int:
    """Beat sweep: every endpoint with something due gets a delivery run (covers lost
    publishes, retries whose countdown task was lost, and workers that died mid-send)."""
    ids = actions.due_webhook_ids()
    for webhook_id in ids:
        publish.enqueue(deliver_due, [webhook_id])
    return len(ids)
