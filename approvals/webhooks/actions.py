"""Webhook actions: create an endpoint, record events for the endpoints that want them,
and deliver what is due (signed, retried with exponential backoff, at least once).

Recording is cheap (one bulk INSERT of small rows, no payload): it runs in the process that
announced the event, after its commit, so ingestion never waits on an endpoint. The payload
is built at the first attempt and kept, so every retry sends the same body.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import orjson
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from approvals.webhooks import outbound, signing
from approvals.webhooks.models import DeliveryStatus, EventType, Webhook, WebhookDelivery
from sgportal import publish
from sgportal.audit import record_audit
from sgportal.models import AuditAction, Tenant

MAX_ATTEMPTS = 10
FIRST_RETRY_S = 30
MAX_RETRY_S = 6 * 3600
TIMEOUT_S = 10
STALE_SENDING = dt.timedelta(minutes=5)  # a "sending" row this old lost its worker
EVENT_NAMESPACE = uuid.UUID("5b0c3a4e-8d1f-4c52-9f0e-1d2c3b4a5f60")


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next attempt after ``attempts`` failed ones: 30 s, 1 min, 2 min, …
    capped at 6 h (ten attempts span about 4 h 15 min)."""
    return dt.timedelta(seconds=min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (attempts - 1)))


def event_id(tenant_id: int, event_type: str, key: str) -> uuid.UUID:
    """The same event announced twice gets the same id (and so one delivery per endpoint)."""
    return uuid.uuid5(EVENT_NAMESPACE, f"{tenant_id}:{event_type}:{key}")


def create_webhook(
    tenant: Tenant, *, name: str, url: str, events: list[str], actor, via: str
) -> tuple[Webhook, str]:
    """A new endpoint and its secret, returned once (stored encrypted, never shown again)."""
    secret = signing.new_secret()
    with transaction.atomic():
        webhook = Webhook.objects.create(
            tenant=tenant, name=name, url=url, events=sorted(set(events)), secret=secret
        )
        record_audit(
            tenant,
            AuditAction.CREATE,
            actor=actor,
            via=via,
            obj=webhook,
            after={"name": name, "url": url, "events": webhook.events},
        )
    return webhook, secret


def record_events(tenant_id: int, event_type: str, contexts: dict[str, dict]) -> int:
    """One delivery per (event, active endpoint of the tenant that wants it); ``contexts``
    maps each event's key (e.g. the change id) to the ids its payload is built from.
    Duplicates of an event already recorded are ignored. Delivery starts after commit."""
    # A tenant has a handful of endpoints: filter their events here (JSON containment is
    # not portable to SQLite, the demo's database).
    webhooks = [
        pk
        for pk, wanted in Webhook.objects.filter(tenant_id=tenant_id, active=True).values_list(
            "pk", "events"
        )
        if event_type in (wanted or [])
    ]
    if not webhooks or not contexts:
        return 0
    now = timezone.now()
    rows = [
        WebhookDelivery(
            webhook_id=webhook_id,
            event_id=event_id(tenant_id, event_type, key),
            event_type=event_type,
            context=context,
            next_attempt_at=now,
        )
        for webhook_id in webhooks
        for key, context in contexts.items()
    ]
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    from approvals.webhooks import tasks

    for webhook_id in webhooks:
        transaction.on_commit(lambda pk=webhook_id: publish.enqueue(tasks.deliver_due, [pk]))
    return len(rows)


def build_payload(delivery: WebhookDelivery) -> dict:
    """The event as sent: plain JSON under ``data`` and the OCSF object under ``ocsf``."""
    from approvals.api import ocsf
    from approvals.api.serializers import ChangeSerializer, DecisionSerializer
    from approvals.models import Decision
    from ingestion.models import SecurityGroupChange

    context = delivery.context
    change = (
        SecurityGroupChange.objects.select_related("account")
        .defer("raw")
        .get(pk=context["change_id"])
    )
    if delivery.event_type == EventType.CHANGE_CREATED:
        data, event = ChangeSerializer(change).data, ocsf.change_to_ocsf(change)
    elif delivery.event_type == EventType.CHANGE_DECIDED:
        decision = Decision.objects.get(pk=context["decision_id"], change=change)
        data = {"change": ChangeSerializer(change).data, **DecisionSerializer(decision).data}
        event = ocsf.decision_to_ocsf(decision, change)
    else:
        data = {
            "change": ChangeSerializer(change).data,
            "revert_attempt_id": context.get("attempt_id"),
            "outcome": context.get("outcome", ""),
            "detail": context.get("detail", ""),
        }
        event = ocsf.revert_to_ocsf(
            change,
            attempt_id=context.get("attempt_id"),
            outcome=context.get("outcome", ""),
            detail=context.get("detail", ""),
        )
    return {
        "id": str(delivery.event_id),
        "type": delivery.event_type,
        "created_at": delivery.created_at.isoformat(),
        "tenant": change.tenant.slug,
        "data": data,
        "ocsf": event,
    }


def destination_error(url: str) -> str | None:
    """Why ``url`` may not be called, or None (see ``outbound.resolve``)."""
    try:
        outbound.resolve(url)
    except outbound.Refused as exc:
        return str(exc)
    return None


def send(url: str, body: bytes, headers: dict) -> int:
    """POST once; the status code on 2xx, ``outbound.Refused`` otherwise."""
    return outbound.post(url, body, headers, timeout=TIMEOUT_S)


@dataclass
class Attempt:
    delivered: bool
    retry_at: dt.datetime | None = None


def attempt_delivery(delivery_id: int) -> Attempt | None:
    """Claim a due delivery (conditional UPDATE: a duplicate task finds nothing), send it,
    and record the result; None when it was not due or not ours to send."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, last_attempt_at=now)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    webhook = delivery.webhook
    try:
        if delivery.payload is None:
            delivery.payload = build_payload(delivery)
            WebhookDelivery.objects.filter(pk=delivery.pk).update(payload=delivery.payload)
        # Sorted keys: the same bytes on every attempt (jsonb does not keep key order).
        body = orjson.dumps(delivery.payload, option=orjson.OPT_SORT_KEYS)
        headers = signing.headers(
            webhook.secret, int(now.timestamp()), body, str(delivery.event_id), delivery.event_type
        )
        code = send(webhook.url, body, headers)
    except outbound.Refused as exc:
        return _failed(delivery, str(exc), exc.status_code)
    except Exception as exc:  # a bug building the payload must not leave the row "sending"
        _failed(delivery, f"{type(exc).__name__}: {exc}", None)
        raise
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DELIVERED,
        delivered_at=timezone.now(),
        last_status_code=code,
        last_error="",
        next_attempt_at=None,
    )
    return Attempt(delivered=True)


def _failed(delivery: WebhookDelivery, error: str, status_code: int | None) -> Attempt:
    attempts = delivery.attempts  # already counts this one
    if attempts >= MAX_ATTEMPTS:
        status, retry_at = DeliveryStatus.FAILED, None
    else:
        status, retry_at = DeliveryStatus.PENDING, timezone.now() + backoff(attempts)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status,
        next_attempt_at=retry_at,
        last_error=error[:2000],
        last_status_code=status_code,
    )
    return Attempt(delivered=False, retry_at=retry_at)


def deliver_due(webhook_id: int, limit: int = 500) -> dt.datetime | None:
    """Send the endpoint's due deliveries, oldest first. Stops at the first failure (the
    endpoint is likely down: the rest wait their turn) and returns when to come back."""
    due = WebhookDelivery.objects.filter(
        webhook_id=webhook_id,
        webhook__active=True,
        status=DeliveryStatus.PENDING,
        next_attempt_at__lte=timezone.now(),
    ).order_by("id")
    for delivery_id in due.values_list("pk", flat=True)[:limit]:
        result = attempt_delivery(delivery_id)
        if result is not None and not result.delivered:
            return result.retry_at
    return None


def due_webhook_ids() -> list[int]:
    """Endpoints with a delivery due now; "sending" rows whose worker died are made due."""
    now = timezone.now()
    WebhookDelivery.objects.filter(
        status=DeliveryStatus.SENDING, last_attempt_at__lt=now - STALE_SENDING
    ).update(status=DeliveryStatus.PENDING, next_attempt_at=now)
    return list(
        WebhookDelivery.objects.filter(
            Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now), webhook__active=True
        )
        .values_list("webhook_id", flat=True)
        .distinct()
    )
