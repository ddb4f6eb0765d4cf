"""Per-tenant Redis lock so one tenant is never polled twice at once.

Overlapping beat ticks, a slow poll, or two beat processes by mistake: whoever holds the
lock polls, the others skip. The lock expires after longer than the task time limit, so a
killed worker cannot block a tenant for ever.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from django.conf import settings
from redis.exceptions import LockError

from sgportal.broker import broker_redis


def poll_lock_key(tenant_id: int) -> str:
    return f"sgportal:ingestion:lake-poll:{tenant_id}"


def tenant_poll_lock(tenant_id: int):
    """Yields True when this caller holds the tenant's poll lock, False when another does."""
    return _tenant_lock(poll_lock_key(tenant_id))


def trail_lock_key(tenant_id: int) -> str:
    return f"sgportal:ingestion:trail-read:{tenant_id}"


def tenant_trail_lock(tenant_id: int):
    """Yields True when this caller holds the tenant's trail-reader lock (one reader of a
    tenant's queue at a time), False when another does."""
    return _tenant_lock(trail_lock_key(tenant_id))


@contextmanager
def _tenant_lock(key: str) -> Iterator[bool]:
    # Timeouts: a Redis that hangs must fail the poll, not block it forever.
    lock = broker_redis(socket_timeout=10, connect_timeout=10).lock(
        key,
        timeout=settings.CELERY_TASK_TIME_LIMIT + 60,
        blocking=False,
    )
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            with suppress(LockError):  # expired meanwhile: nothing left to release
                lock.release()
