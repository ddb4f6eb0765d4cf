"""Reconciliation on the ingestion status page (issue 12, item 4): per source, when it last
delivered and how many changes only it delivered; the trail's files, skips and dead letters.
Tenant admins only; an outsider never sees another tenant's sources."""

from __future__ import annotations

import datetime as dt

from ingestion.models import (
    SOURCE_BITS,
    EventBridgeSource,
    Source,
    TrailDeadLetter,
    TrailSource,
)
from tests.approvals.factories import ChangeFactory

AT = dt.datetime(2026, 9, 14, 8, 5, tzinfo=dt.UTC)
EB, TRAIL = SOURCE_BITS[Source.EVENTBRIDGE], SOURCE_BITS[Source.TRAIL]


def setup_sources(tenant, account):
    EventBridgeSource.objects.create(
        tenant=tenant, enabled=True, last_delivery_at=AT, events_delivered=7, new_changes=5
    )
    TrailSource.objects.create(
        tenant=tenant,
        enabled=True,
        queue_url="https://sqs.us-east-1.amazonaws.com/333333333333/acme-trail",
        region="us-east-1",
        last_delivery_at=AT + dt.timedelta(minutes=5),
        events_delivered=9,
        new_changes=2,
        files_read=12,
        records_scanned=34567,
        skipped_test_events=1,
        skipped_digests=3,
        skipped_not_cloudtrail=2,
        last_file_at=AT + dt.timedelta(minutes=6),
        last_error="s3://acme-trail/AWSLogs/x.json.gz: truncated gzip file",
        last_error_at=AT,
    )
    TrailDeadLetter.objects.create(
        tenant=tenant, message_id="m-1", key="AWSLogs/x.json.gz", parked_at=AT
    )
    for sources in [EB, EB | TRAIL, EB | TRAIL, TRAIL, TRAIL, TRAIL]:
        ChangeFactory(account=account, source=Source.EVENTBRIDGE, sources=sources)


def test_admins_see_each_source_and_what_only_it_delivered(
    client, tenant, account, admin_user, approver, outsider
):
    setup_sources(tenant, account)
    client.force_login(admin_user)
    page = client.get("/ingestion/status/").content.decode()
    assert '<th scope="row">EventBridge</th>\n    <td>on</td>' in page
    # EventBridge: 7 delivered, 5 first, 1 only by it; the trail: 9, 2, 3 only by it.
    assert "<td>7</td><td>5</td><td>1</td>" in page
    assert "<td>9</td><td>2</td><td>3</td>" in page
    assert "truncated gzip file" in page
    assert "12 (34567 records scanned)" in page
    assert "1 test events, 3 digest files, 2 other objects" in page
    assert '<span class="error">1</span>' in page

    client.force_login(approver)
    assert client.get("/ingestion/status/").status_code == 403
    client.force_login(outsider)
    page = client.get("/ingestion/status/").content.decode()
    assert "truncated gzip file" not in page and "34567" not in page
    assert tenant.name not in page
