"""Per-channel pacing of Slack posts: about one message per second per channel.

Why Redis and not Celery's ``rate_limit``: ``rate_limit`` is per worker process and per
task type, so N workers post N times too fast, and one noisy tenant's burst would also
slow every other tenant's channel. Slack's limit is per channel, across all our workers,
so the slot schedule lives in Redis, keyed by channel.

``reserve(channel)`` atomically books the next free slot (a Lua script: slot =
max(now, next); next = slot + interval) and returns how many seconds until it. The caller
posts at that time (sleeping briefly or re-enqueueing itself with that countdown and the
slot already booked). ``push_back(channel, seconds)`` moves the schedule when Slack answers
429 so every pending post of that channel waits out the Retry-After.

If Redis is unreachable the limiter falls back to an in-process schedule (pacing then only
holds per worker) rather than stopping notifications.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings

from sgportal.broker import broker_redis

log = logging.getLogger(__name__)

_RESERVE = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], slot + interval, 'PX', math.ceil((slot - now + interval) * 1000) + 1000)
return tostring(slot - now)
"""
_PUSH_BACK = """
local now = tonumber(ARGV[1])
local until_ = now + tonumber(ARGV[2])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > nxt then
  redis.call('SET', KEYS[1], until_, 'PX', math.ceil((until_ - now) * 1000) + 1000)
end
return 1
"""

_local_lock = threading.Lock()
_local_next: dict[str, float] = {}


def _redis() -> redis.Redis:
    # Short timeouts: when Redis is slow the in-process schedule below takes over.
    return broker_redis(socket_timeout=2, connect_timeout=2)


def _key(channel: str) -> str:
    return f"sgportal:slack:next-slot:{channel}"


def reserve(channel: str) -> float:
    """Book the channel's next posting slot; seconds to wait until it (0 = now)."""
    interval = float(settings.SLACK_CHANNEL_INTERVAL_S)
    if interval <= 0:
        return 0.0
    now = time.time()
    try:
        return max(0.0, float(_redis().eval(_RESERVE, 1, _key(channel), now, interval)))
    except redis.RedisError as exc:
        log.warning("Slack rate limiter: Redis unavailable (%s); pacing per process", exc)
        with _local_lock:
            slot = max(now, _local_next.get(channel, 0.0))
            _local_next[channel] = slot + interval
        return slot - now


def push_back(channel: str, seconds: float) -> None:
    """No post to ``channel`` before ``seconds`` from now (Slack said Retry-After)."""
    now = time.time()
    try:
        _redis().eval(_PUSH_BACK, 1, _key(channel), now, float(seconds))
    except redis.RedisError as exc:
        log.warning("Slack rate limiter: Redis unavailable (%s)", exc)
        with _local_lock:
            _local_next[channel] = max(_local_next.get(channel, 0.0), now + seconds)
