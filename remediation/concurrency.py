"""Who may act, and when: a per-account cap across workers, and one executor per attempt.

- ``account_slot``: EC2 throttles per account and region, so at most
  ``REMEDIATION_ACCOUNT_CONCURRENCY`` reverts run against one account at a time, across all
  workers. A Redis sorted set per (tenant, account) holds the slots (acquired atomically
  in Lua), so one tenant's reverts never take or wait for another tenant's slots;
  a slot left behind by a killed worker expires after ``REMEDIATION_SLOT_TTL_S``. Without a
  Redis broker (memory:// in some tests) it is a no-op.
- ``attempt_lock``: a PostgreSQL session advisory lock on the attempt, so a redelivered
  task never runs an attempt that another worker is still executing. PostgreSQL drops it
  the moment a killed worker's connection goes away. On SQLite (single writer) a no-op.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from django.conf import settings

from sgportal import db
from sgportal.broker import broker_redis

LOCK_BASE = 0x5347_0000_0000  # "SG": keeps our advisory keys apart from anyone else's

_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[3])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""


class AccountBusy(Exception):
    """Every slot for the account is taken; try again shortly (transient)."""


class AttemptBusy(Exception):
    """Another worker is executing this attempt right now (transient)."""


@lru_cache(maxsize=1)
def _redis():
    url = settings.CELERY_BROKER_URL or ""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return broker_redis(socket_timeout=10)


@contextmanager
def account_slot(tenant_id: int, account_id: str) -> Iterator[None]:
    """Hold one of the tenant's revert slots for the AWS account; AccountBusy if none is free."""
    client = _redis()
    if client is None:
        yield
        return
    account_key = f"{int(tenant_id)}:{account_id}"
    key = f"sgportal:revert-slots:{account_key}"
    token = uuid.uuid4().hex
    ttl = settings.REMEDIATION_SLOT_TTL_S
    limit = settings.REMEDIATION_ACCOUNT_CONCURRENCY
    if not client.eval(_ACQUIRE, 1, key, time.time(), token, ttl, limit):
        raise AccountBusy(f"{limit} reverts already running in account {account_key}")
    try:
        yield
    finally:
        client.zrem(key, token)


@contextmanager
def attempt_lock(attempt_id: int) -> Iterator[None]:
    with db.try_advisory_lock(LOCK_BASE + attempt_id) as got:
        if not got:
            raise AttemptBusy(f"attempt {attempt_id} is being executed by another worker")
        yield
