"""Security review: the EventBridge door with bodies an attacker (holding a tenant's secret,
or not) shapes. A malformed event must be refused whole with a 400 and a reason, never a
500, and an outsider's secret never gets that far."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from ingestion.models import EventBridgeSource, SecurityGroupChange
from ingestion.sources import rotate_eventbridge_secret
from tests.ingestion.helpers import realworld


@pytest.fixture(autouse=True)
def _clear_counters():
    cache.clear()


def _secret(tenant) -> str:
    text = rotate_eventbridge_secret(tenant, actor="test")
    EventBridgeSource.objects.filter(tenant=tenant).update(enabled=True)
    return text


def _post(client, slug, body, secret):
    return client.post(
        f"/ingest/eventbridge/{slug}/",
        json.dumps(body),
        content_type="application/json",
        headers={"X-SGPortal-Secret": secret},
    )


@pytest.mark.parametrize("event_name", [["AuthorizeSecurityGroupIngress"], {"a": 1}])
def test_an_event_name_that_is_not_a_string_is_a_400_not_a_500(
    client, tenant, other_tenant, event_name
):
    secret, outsider_secret = _secret(tenant), _secret(other_tenant)
    good = realworld(17)
    bad = {**good, "detail": {**good["detail"], "eventName": event_name}}
    body = [good, bad]

    # The outsider (another tenant's secret) is refused before the body is looked at.
    assert _post(client, "acme", body, outsider_secret).status_code == 401

    client.raise_request_exception = False
    response = _post(client, "acme", body, secret)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "bad_shape"
    assert "event 1" in response.json()["detail"] and "eventName" in response.json()["detail"]
    assert not SecurityGroupChange.objects.exists()  # refused whole, in every tenant
