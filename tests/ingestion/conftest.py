"""Fixtures of the ingestion tests: a tenant set up for CloudTrail Lake."""

from __future__ import annotations

import pytest

STORE_ID = "4f1d2c3b-a5e6-4789-8abc-0d1e2f3a4b5c"


@pytest.fixture
def lake_tenant(tenant, account):
    """``tenant`` with Lake enabled; ``account`` (111111111111) has the SgGuardSpoke role."""
    from ingestion.models import LakeSource

    LakeSource.objects.create(
        tenant=tenant,
        enabled=True,
        event_data_store=f"arn:aws:cloudtrail:us-east-1:333333333333:eventdatastore/{STORE_ID}",
        region="us-east-1",
    )
    return tenant


@pytest.fixture
def ingested(monkeypatch):
    """Every changes_ingested signal as (tenant_id, change_ids)."""
    from sgportal.events import changes_ingested

    calls: list[tuple[int, list[int]]] = []

    def receiver(sender, tenant_id, change_ids, **kwargs):
        calls.append((tenant_id, list(change_ids)))

    changes_ingested.connect(receiver, weak=False)
    yield calls
    changes_ingested.disconnect(receiver)
