"""Celery tasks of ingestion: thin wrappers around ingestion.poller and ingestion.trail."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError

from ingestion.poller import poll_tenant_locked
from ingestion.trail import read_tenant_locked
from sgportal import publish
from sgportal.models import Tenant


def _fan_out(task, interval_s: int, **source_enabled: bool) -> int:
    """One ``task(tenant_id)`` per active tenant whose source is enabled. A task not started
    within one interval is dropped: the next tick covers it."""
    tenants = Tenant.objects.filter(active=True, **source_enabled).values_list("pk", flat=True)
    tenant_ids = list(tenants)
    for tenant_id in tenant_ids:
        publish.enqueue(task, [tenant_id], expires=interval_s)
    return len(tenant_ids)


@shared_task(name="ingestion.tasks.poll_all_tenants")
def poll_all_tenants() -> int:
    """Beat entry: one poll_tenant per active tenant with Lake enabled."""
    return _fan_out(poll_tenant, settings.SGPORTAL_POLL_INTERVAL_S, lake_source__enabled=True)


@shared_task(
    name="ingestion.tasks.poll_tenant",
    autoretry_for=(RedisConnectionError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def poll_tenant(tenant_id: int) -> str:
    """Poll one tenant's Lake store unless another poll of it is running."""
    return poll_tenant_locked(tenant_id)


@shared_task(name="ingestion.tasks.read_all_trails")
def read_all_trails() -> int:
    """Beat entry: one read_trail per active tenant with an enabled trail source."""
    return _fan_out(read_trail, settings.SGPORTAL_TRAIL_INTERVAL_S, trail_source__enabled=True)


@shared_task(
    name="ingestion.tasks.read_trail",
    autoretry_for=(RedisConnectionError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def read_trail(tenant_id: int) -> str:
    """One bounded read of a tenant's trail queue unless another read of it is running."""
    return read_tenant_locked(tenant_id)
