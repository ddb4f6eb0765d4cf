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


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server in a process of its own (S3, SQS, SNS, STS over HTTP), for the session."""
    from tests.ingestion.trail_world import moto_process

    with moto_process() as endpoint:
        yield endpoint


@pytest.fixture
def trail_aws(moto_endpoint, monkeypatch, settings):
    """AWS is the (freshly reset) moto server; the reader does not wait on empty queues."""
    from tests.ingestion.trail_world import reset, use_endpoint

    reset(moto_endpoint)
    use_endpoint(monkeypatch, moto_endpoint)
    settings.SGPORTAL_TRAIL_WAIT_S = 0
    settings.SGPORTAL_TRAIL_RETRY_DELAY_S = 0
    settings.SGPORTAL_TRAIL_MAX_RECEIVES = 3
    return moto_endpoint
