"""Webhook figures for /metrics, read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Min
from django.utils import timezone

from sgportal.metrics import DbMetric, Sample, counts, register_db_metric


def _deliveries() -> Iterable[Sample]:
    """Deliveries not (yet) delivered, by tenant and status (delivered ones are not counted:
    they only grow)."""
    from approvals.webhooks.models import DeliveryStatus, WebhookDelivery

    waiting = WebhookDelivery.objects.exclude(status=DeliveryStatus.DELIVERED)
    return counts(waiting, tenant="webhook__tenant__slug", status="status")


def _oldest_pending() -> Iterable[Sample]:
    from approvals.webhooks.models import DeliveryStatus, WebhookDelivery

    rows = (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, attempts__gt=0)
        .values("webhook__tenant__slug")
        .annotate(oldest=Min("created_at"))
    )
    now = timezone.now()
    for row in rows:
        yield {"tenant": row["webhook__tenant__slug"]}, (now - row["oldest"]).total_seconds()


def register() -> None:
    register_db_metric(
        DbMetric(
            "sgportal_webhook_deliveries_undelivered",
            "Webhook deliveries not delivered, by status (pending: waiting for an attempt or "
            "a retry; sending: in flight; failed: gave up after the last retry).",
            ("tenant", "status"),
            _deliveries,
        )
    )
    register_db_metric(
        DbMetric(
            "sgportal_webhook_oldest_failing_delivery_age_seconds",
            "Age of the oldest delivery that has failed at least once and is still retried.",
            ("tenant",),
            _oldest_pending,
        )
    )
