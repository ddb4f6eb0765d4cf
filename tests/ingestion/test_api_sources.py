"""GET /api/v1/sources/: the token's tenant's source health and reconciliation figures
(issue 14 item 1, issue 12 item 4), read scope, never another tenant's figures."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from ingestion.models import (
    EventBridgeSource,
    LakeSource,
    Source,
    TrailDeadLetter,
    TrailSource,
)
from ingestion.sources import record_delivery, record_source_error
from tests.api import assert_error, assert_unauthenticated, call, tokens_fixture  # noqa: F401
from tests.ingestion.test_sources import stored

WATERMARK = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def by_source(response) -> dict[str, dict]:
    assert response.status_code == 200, response.content
    return {row["source"]: row for row in response.json()}


def test_it_reports_each_source_of_the_tenant_only(client, tokens, tenant, other_tenant):
    LakeSource.objects.create(tenant=tenant, enabled=True, watermark=WATERMARK)
    EventBridgeSource.objects.create(tenant=tenant, enabled=True, secret_set_at=WATERMARK)
    record_delivery(EventBridgeSource, tenant.pk, events=7, new=3)
    record_source_error(LakeSource, tenant.pk, "AccessDenied: not authorized")
    stored(tenant, [1, 2, 3], Source.EVENTBRIDGE)
    stored(tenant, [2, 3], Source.LAKE)  # the Lake caught up on 2 and 3, not on 1
    # Globex: a trail with a dead letter and figures of its own.
    TrailSource.objects.create(tenant=other_tenant, enabled=True, files_read=40)
    TrailDeadLetter.objects.create(
        tenant=other_tenant, message_id="m-1", key="bad.json.gz", parked_at=timezone.now()
    )
    stored(other_tenant, [4, 5], Source.TRAIL)

    ours = by_source(call(client, "get", "/api/v1/sources/", tokens.read))
    assert list(ours) == ["lake", "eventbridge", "trail"]
    assert ours["eventbridge"] | {"last_delivery_at": None} == {
        "source": "eventbridge",
        "label": "EventBridge",
        "configured": True,
        "enabled": True,
        "last_delivery_at": None,
        "events_delivered": 7,
        "new_changes": 3,
        "only_delivered": 1,
        "last_error": "",
        "last_error_at": None,
        "watermark": None,
        "last_success_at": None,
        "files_read": None,
        "files_skipped": None,
        "records_scanned": None,
        "last_file_at": None,
        "skipped_test_events": None,
        "skipped_digests": None,
        "skipped_not_cloudtrail": None,
        "dead_letters": None,
        "secret_set_at": "2026-11-30T12:00:00Z",
    }
    assert ours["eventbridge"]["last_delivery_at"] is not None
    assert ours["lake"]["watermark"] == "2026-11-30T12:00:00Z"
    assert ours["lake"]["only_delivered"] == 0
    assert ours["lake"]["last_error"].startswith("AccessDenied")
    assert ours["trail"] | {"label": ""} == ours["trail"] | {
        "label": "",
        "configured": False,
        "enabled": False,
        "files_read": None,
        "dead_letters": None,
        "only_delivered": 0,
    }

    theirs = by_source(call(client, "get", "/api/v1/sources/", tokens.outsider))
    assert theirs["trail"]["configured"] is True
    assert (theirs["trail"]["files_read"], theirs["trail"]["dead_letters"]) == (40, 1)
    assert theirs["trail"]["only_delivered"] == 2
    assert theirs["eventbridge"]["configured"] is False
    assert theirs["eventbridge"]["events_delivered"] == 0


def test_it_needs_a_read_token(client, tokens, tenant):
    assert_unauthenticated(client, "get", "/api/v1/sources/", tokens)
    assert_error(call(client, "get", "/api/v1/sources/", tokens.decide_only), 403, "missing_scope")
