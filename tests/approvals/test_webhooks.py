"""Outbound webhooks: a real HTTP receiver on loopback that fails, then recovers, receives
each event (change created, change decided, revert finished) once per idempotency key,
signed; failures are visible in admin and /metrics; outsiders see nothing."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from approvals.webhooks import actions, signing, tasks
from approvals.webhooks.models import DeliveryStatus, EventType, Webhook, WebhookDelivery
from sgportal import events
from sgportal.models import AuditEntry
from tests.api import call, tokens_fixture  # noqa: F401
from tests.approvals.factories import ChangeFactory

ALL_EVENTS = [choice.value for choice in EventType]


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that answers ``status`` and records every request."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"headers": dict(self.headers), "body": body, "status": receiver.status}
                )
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[dict]:
        return [r for r in self.requests if r["status"] == 200]


@pytest.fixture
def receiver(settings):
    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = True  # loopback
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def webhook(tenant, receiver):
    hook, secret = actions.create_webhook(
        tenant, name="siem", url=receiver.url, events=ALL_EVENTS, actor="test", via="cli"
    )
    hook.plain_secret = secret
    return hook


def later(seconds: float):
    return time_machine.travel(timezone.now() + dt.timedelta(seconds=seconds), tick=False)


def announce_ingested(change, capture):
    with capture(execute=True):
        events.announce(
            events.changes_ingested, sender=None, tenant_id=change.tenant_id, change_ids=[change.pk]
        )


def test_it_is_delivered_once_per_event_after_the_receiver_recovers(
    client, tokens, account, other_account, webhook, receiver, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    receiver.status = 500
    change = ChangeFactory(account=account)
    announce_ingested(change, capture)
    announce_ingested(change, capture)  # the same event announced twice: still one delivery
    ChangeFactory(account=other_account)  # another tenant's change: never sent here
    announce_ingested(ChangeFactory(account=other_account), capture)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_status_code == 500 and delivery.last_error == "HTTP 500"
    assert delivery.next_attempt_at > timezone.now()
    assert len(receiver.requests) == 1

    # Not due yet: a sweep sends nothing. Due after the backoff: the recovered receiver
    # gets it, with the same event id and body as the failed attempt.
    tasks.resume_deliveries()
    assert len(receiver.requests) == 1
    receiver.status = 200
    with later(actions.backoff(1).total_seconds() + 1):
        assert tasks.resume_deliveries() == 1
        tasks.resume_deliveries()  # nothing left: no second delivery
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    failed, ok = receiver.requests
    assert failed["body"] == ok["body"]
    assert failed["headers"]["Idempotency-Key"] == ok["headers"]["Idempotency-Key"]

    # A decision by API, then the revert's outcome.
    with capture(execute=True):
        response = call(
            client,
            "post",
            f"/api/v1/changes/{change.pk}/decision/",
            tokens.decide,
            {"verdict": "deny", "reason": "opens SSH to the world"},
        )
    assert response.status_code == 201
    with capture(execute=True):
        events.announce(
            events.revert_finished,
            sender=None,
            change_id=change.pk,
            attempt_id=41,
            outcome="reverted",
            detail="",
        )

    accepted = receiver.accepted()
    keys = [r["headers"]["Idempotency-Key"] for r in accepted]
    assert len(keys) == len(set(keys)) == 3  # each event delivered once
    bodies = [json.loads(r["body"]) for r in accepted]
    assert [b["type"] for b in bodies] == ALL_EVENTS
    assert [b["id"] for b in bodies] == keys
    assert {b["tenant"] for b in bodies} == {"acme"}
    assert [b["ocsf"]["class_uid"] for b in bodies] == [6003, 7001, 7001]
    assert bodies[0]["data"]["id"] == change.pk and bodies[1]["data"]["verdict"] == "deny"
    assert bodies[2]["data"]["outcome"] == "reverted"
    for request in receiver.requests:
        headers = request["headers"]
        assert signing.verify(
            webhook.plain_secret,
            headers["X-Sgportal-Timestamp"],
            request["body"],
            headers["X-Sgportal-Signature"],
            now=float(headers["X-Sgportal-Timestamp"]),
        )
        assert not signing.verify(
            "whsec_wrong",
            headers["X-Sgportal-Timestamp"],
            request["body"],
            headers["X-Sgportal-Signature"],
            now=float(headers["X-Sgportal-Timestamp"]),
        )


def test_it_gives_up_after_the_last_retry_and_shows_it_in_admin_and_metrics(
    client,
    account,
    admin_user,
    outsider,
    webhook,
    receiver,
    django_capture_on_commit_callbacks,
    scrape_metrics,
):
    receiver.status = 503
    announce_ingested(ChangeFactory(account=account), django_capture_on_commit_callbacks)
    waited = 0.0
    for attempts in range(1, actions.MAX_ATTEMPTS):
        waited += actions.backoff(attempts).total_seconds() + 1
        with later(waited):
            tasks.resume_deliveries()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == actions.MAX_ATTEMPTS == len(receiver.requests)
    assert delivery.next_attempt_at is None
    with later(waited + 10 * 3600):
        tasks.resume_deliveries()
    assert len(receiver.requests) == actions.MAX_ATTEMPTS  # given up means given up

    families = {f.name: f for f in text_string_to_metric_families(scrape_metrics())}
    samples = {
        (s.labels["tenant"], s.labels["status"]): s.value
        for s in families["sgportal_webhook_deliveries_undelivered"].samples
    }
    assert samples == {("acme", "failed"): 1.0}

    client.force_login(admin_user)
    page = client.get("/admin/webhooks/webhookdelivery/")
    assert page.status_code == 200 and b"HTTP 503" in page.content
    client.force_login(outsider)
    page = client.get("/admin/webhooks/webhookdelivery/")
    assert b"HTTP 503" not in page.content
    assert client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/").status_code in (
        302,
        403,
        404,
    )


def test_the_secret_is_shown_once_and_stored_encrypted(client, tenant, admin_user, settings):
    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    client.force_login(admin_user)
    refused = client.post(
        "/admin/webhooks/webhook/add/",
        {"tenant": tenant.pk, "name": "x", "url": "http://127.0.0.1/h", "events": ALL_EVENTS},
    )
    assert refused.status_code == 200 and b"https://" in refused.content
    assert not Webhook.objects.exists()

    settings.SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = True
    response = client.post(
        "/admin/webhooks/webhook/add/",
        {"tenant": tenant.pk, "name": "siem", "url": "http://127.0.0.1/h", "events": ALL_EVENTS},
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    hook = Webhook.objects.get()
    assert hook.secret.startswith("whsec_") and hook.secret.encode() in response.content
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhook WHERE id = %s", [hook.pk])
        assert cursor.fetchone()[0].startswith("fernet:")
    assert (
        hook.secret.encode() not in client.get(f"/admin/webhooks/webhook/{hook.pk}/change/").content
    )
    entry = AuditEntry.objects.get(object_type="webhooks.Webhook")
    assert hook.secret not in json.dumps(entry.after)


def test_recording_never_calls_the_endpoint(account, webhook, receiver, monkeypatch):
    """The announcing process (ingestion) only writes rows: with no commit hook run, no
    HTTP request is made however slow the endpoint would be."""
    monkeypatch.setattr(actions, "send", lambda *a: time.sleep(60))
    change = ChangeFactory(account=account)
    started = time.monotonic()
    events.announce(
        events.changes_ingested, sender=None, tenant_id=change.tenant_id, change_ids=[change.pk]
    )
    assert time.monotonic() - started < 5
    assert WebhookDelivery.objects.get().attempts == 0 and receiver.requests == []


def _delivered_signature(receiver) -> tuple[dict, bytes]:
    request = receiver.accepted()[-1]
    return request["headers"], request["body"]


def _verifies(secret, headers, body) -> bool:
    stamp = headers["X-Sgportal-Timestamp"]
    return signing.verify(secret, stamp, body, headers["X-Sgportal-Signature"], float(stamp))


def test_rotating_the_secret_signs_with_both_for_a_day_then_only_the_new(
    client, account, admin_user, outsider, webhook, receiver, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    old = webhook.plain_secret
    client.force_login(outsider)  # Globex's admin: our webhook is not theirs to rotate
    client.post(
        "/admin/webhooks/webhook/",
        {"action": "rotate_secret", "_selected_action": [webhook.pk]},
    )
    webhook.refresh_from_db()
    assert webhook.secret == old and not webhook.previous_secret

    client.force_login(admin_user)
    response = client.post(
        "/admin/webhooks/webhook/",
        {"action": "rotate_secret", "_selected_action": [webhook.pk]},
    )
    webhook.refresh_from_db()
    new = webhook.secret
    assert new != old and webhook.previous_secret == old
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert new.encode() in response.content and old.encode() not in response.content
    entry = AuditEntry.objects.filter(object_type="webhooks.Webhook").latest("seq")
    assert entry.after["secret"] == "rotated" and new not in json.dumps(entry.after)

    announce_ingested(ChangeFactory(account=account), capture)  # within the overlap
    headers, body = _delivered_signature(receiver)
    assert headers["X-Sgportal-Signature"].count("v1=") == 2
    assert _verifies(new, headers, body) and _verifies(old, headers, body)
    assert not _verifies("whsec_wrong", headers, body)

    with later(actions.ROTATION_OVERLAP.total_seconds() + 60):
        announce_ingested(ChangeFactory(account=account), capture)
        headers, body = _delivered_signature(receiver)
    assert headers["X-Sgportal-Signature"].count("v1=") == 1
    assert _verifies(new, headers, body) and not _verifies(old, headers, body)
