"""/metrics: the Lake watermark's age and unparseable records, per tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from ingestion.models import LakeSource, Source
from ingestion.parser import parse_text
from ingestion.store import store_changes


def test_it_exports_watermark_age_and_unparseable_counts(scrape_metrics, lake_tenant, other_tenant):
    LakeSource.objects.filter(tenant=lake_tenant).update(
        watermark=datetime(2026, 9, 14, 11, 0, tzinfo=UTC)
    )
    store_changes(lake_tenant, [parse_text("{oops"), parse_text("[1]")], source=Source.LAKE)
    with time_machine.travel(datetime(2026, 9, 14, 11, 2, tzinfo=UTC), tick=False):
        body = scrape_metrics()
    assert 'sgportal_lake_watermark_age_seconds{tenant="acme"} 120.0' in body
    assert 'sgportal_unparseable_changes{tenant="acme"} 2.0' in body
    assert 'tenant="globex"' not in body
