"""POST /ingest/eventbridge/<tenant>/: the secret, the body, the shapes, and one change per
event whichever sources delivered it (issue 12, item 2)."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from ingestion.models import EventBridgeSource, SecurityGroupChange, Source
from ingestion.parser import parse_record
from ingestion.sources import rotate_eventbridge_secret
from ingestion.store import store_changes
from sgportal.models import AuditEntry
from tests.ingestion.helpers import realworld, realworld_files

ENVELOPES = [int(p.name[:2]) for p in realworld_files() if "eventbridge" in p.name]


@pytest.fixture(autouse=True)
def _clear_counters():
    cache.clear()


@pytest.fixture
def secret(tenant):
    text = rotate_eventbridge_secret(tenant, actor="test")
    EventBridgeSource.objects.filter(tenant=tenant).update(enabled=True)
    return text


@pytest.fixture
def globex_secret(other_tenant):
    text = rotate_eventbridge_secret(other_tenant, actor="test")
    EventBridgeSource.objects.filter(tenant=other_tenant).update(enabled=True)
    return text


def post(client, slug, body, secret, **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    headers = {"X-SGPortal-Secret": secret} if secret is not None else {}
    return client.post(
        f"/ingest/eventbridge/{slug}/", data, content_type="application/json", headers=headers
    )


def rejected(reason: str) -> int:
    from ingestion.eventbridge import rejection_counts

    return rejection_counts()[reason]


def test_it_stores_a_real_envelope_as_one_change_from_eventbridge(client, tenant, secret):
    envelope = realworld(17)
    response = post(client, "acme", envelope, secret)
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 1, "skipped": 0, "new": 1, "duplicates": 0}
    change = SecurityGroupChange.objects.get(tenant=tenant)
    assert change.event_id == envelope["detail"]["eventID"]
    assert (change.source, change.source_list) == ("eventbridge", ["eventbridge"])
    health = EventBridgeSource.objects.get(tenant=tenant)
    assert (health.events_delivered, health.new_changes) == (1, 1)
    assert health.last_delivery_at is not None


def test_a_batch_of_every_real_envelope_is_one_request(client, tenant, secret):
    batch = [realworld(n) for n in ENVELOPES]
    response = post(client, "acme", batch, secret)
    assert response.status_code == 200, response.content
    assert response.json()["new"] == len(ENVELOPES) == 6
    stored = set(SecurityGroupChange.objects.values_list("event_id", flat=True))
    assert stored == {e["detail"]["eventID"] for e in batch}


def test_a_replay_stores_nothing_new(client, tenant, secret):
    envelope = realworld(18)
    assert post(client, "acme", envelope, secret).json()["new"] == 1
    again = post(client, "acme", [envelope, envelope], secret)
    assert again.status_code == 200
    assert again.json() == {"received": 2, "skipped": 0, "new": 0, "duplicates": 2}
    assert SecurityGroupChange.objects.count() == 1


def test_other_ec2_calls_are_skipped_not_stored(client, tenant, secret):
    other = realworld(17)
    other["detail"]["eventName"] = "RunInstances"
    response = post(client, "acme", [other, realworld(19)], secret)
    assert response.json() == {"received": 1, "skipped": 1, "new": 1, "duplicates": 0}
    assert SecurityGroupChange.objects.count() == 1


@pytest.mark.parametrize("case", ["wrong", "missing", "globex", "unknown_tenant", "disabled"])
def test_wrong_secret_other_tenants_secret_and_unknown_tenant_get_the_same_401(
    client, tenant, secret, globex_secret, case
):
    slug, presented = "acme", secret
    if case == "wrong":
        presented = secret[:-2] + "xx"
    elif case == "missing":
        presented = None
    elif case == "globex":
        presented = globex_secret  # Globex's own valid secret against Acme's URL
    elif case == "unknown_tenant":
        slug = "nobody"
    elif case == "disabled":
        EventBridgeSource.objects.filter(tenant=tenant).update(enabled=False)
    response = post(client, slug, realworld(17), presented)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": "unauthorized"}
    assert not SecurityGroupChange.objects.exists()
    assert rejected("unauthorized") == 1


def test_a_rotated_secret_replaces_the_old_one(client, tenant, secret):
    new = rotate_eventbridge_secret(tenant, actor="test")
    assert post(client, "acme", realworld(17), secret).status_code == 401
    assert post(client, "acme", realworld(17), new).status_code == 200
    assert EventBridgeSource.objects.get(tenant=tenant).secret_hash not in (secret, new)


def test_an_oversized_body_gets_413_and_nothing_is_stored(client, tenant, secret):
    batch = [realworld(17)] + [realworld(18)] * 700  # ~1.3 MiB
    body = json.dumps(batch)
    assert len(body) > 1024 * 1024
    response = post(client, "acme", body, secret)
    assert response.status_code == 413
    assert not SecurityGroupChange.objects.exists()
    assert rejected("too_large") == 1


@pytest.mark.parametrize(
    ("body", "reason", "words"),
    [
        (b"{not json", "bad_json", "not JSON"),
        (b"[]", "bad_shape", "empty array"),
        (b"[1]", "bad_shape", "event 0: not an EventBridge event"),
        (
            json.dumps({"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2"}),
            "bad_shape",
            "with a detail",
        ),
        (
            json.dumps({**realworld(17), "detail-type": "EC2 Instance State-change Notification"}),
            "wrong_event",
            "detail-type",
        ),
        (
            json.dumps([realworld(18), {**realworld(17), "source": "aws.s3"}]),
            "wrong_event",
            "event 1: source",
        ),
    ],
)
def test_a_malformed_body_gets_400_with_a_reason_and_stores_nothing(
    client, tenant, secret, body, reason, words
):
    response = post(client, "acme", body, secret)
    assert response.status_code == 400
    assert response.json()["error"] == reason and words in response.json()["detail"]
    assert not SecurityGroupChange.objects.exists()  # not even the good first event
    assert rejected(reason) == 1


def test_refusals_are_counted_in_metrics_by_reason(client, tenant, secret, scrape_metrics):
    post(client, "acme", b"{", secret)
    post(client, "acme", b"{", secret)
    post(client, "acme", realworld(17), "nope")
    body = scrape_metrics()
    assert 'sgportal_eventbridge_rejected_requests{reason="bad_json"} 2.0' in body
    assert 'sgportal_eventbridge_rejected_requests{reason="unauthorized"} 1.0' in body


def test_only_post_is_accepted(client, tenant, secret):
    assert client.get("/ingest/eventbridge/acme/").status_code == 405


def test_the_same_event_through_eventbridge_and_the_trail_is_one_change_with_both(
    client, tenant, secret
):
    envelope = realworld(22)
    store_changes(tenant, [parse_record(envelope["detail"])], source=Source.TRAIL)
    response = post(client, "acme", envelope, secret)
    assert response.json()["new"] == 0
    change = SecurityGroupChange.objects.get(tenant=tenant)
    assert change.source == "trail"  # first to deliver
    assert change.source_list == ["eventbridge", "trail"]
    # and a third delivery by a source already recorded changes nothing
    post(client, "acme", envelope, secret)
    change.refresh_from_db()
    assert change.source_list == ["eventbridge", "trail"]


def test_an_admin_generates_a_secret_shown_once_and_an_outsider_cannot(
    client, admin_user, outsider, tenant, other_tenant
):
    client.force_login(admin_user)
    response = client.post(
        "/admin/sgportal/tenant/",
        {"action": "generate_eventbridge_secret", "_selected_action": [tenant.pk]},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    shown = response.context["secrets"][0][1]
    assert shown.encode() in response.content
    source = EventBridgeSource.objects.get(tenant=tenant)
    assert source.secret_matches(shown) and shown not in source.secret_hash
    assert AuditEntry.objects.filter(tenant=tenant, object_repr__contains="EventBridge").exists()
    page = client.get(f"/admin/sgportal/tenant/{tenant.pk}/change/")
    assert shown.encode() not in page.content and source.secret_hash.encode() not in page.content

    client.force_login(outsider)  # Globex's admin, on Acme's tenant
    client.post(
        "/admin/sgportal/tenant/",
        {"action": "generate_eventbridge_secret", "_selected_action": [tenant.pk]},
    )
    assert EventBridgeSource.objects.get(tenant=tenant).secret_hash == source.secret_hash
    assert not EventBridgeSource.objects.filter(tenant=other_tenant).exists()
