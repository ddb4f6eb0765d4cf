"""The broker's Redis, for the little coordination the apps keep there: the Lake poll
locks, the per-account revert slots and the per-channel Slack pacing."""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings


@cache
def broker_redis(*, socket_timeout: float, connect_timeout: float | None = None) -> redis.Redis:
    """A client of ``CELERY_BROKER_URL`` (one per process and set of timeouts): a Redis that
    hangs fails the caller after ``socket_timeout`` instead of blocking it."""
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
    )
