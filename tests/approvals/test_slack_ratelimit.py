"""Per-channel pacing of Slack posts (Redis when reachable, else per process)."""

from __future__ import annotations

import datetime as dt
import uuid

import time_machine

from approvals.slack import ratelimit


def test_it_spaces_posts_to_one_channel_by_the_interval(settings):
    settings.SLACK_CHANNEL_INTERVAL_S = 1.0
    channel, other = f"C{uuid.uuid4().hex[:10]}", f"C{uuid.uuid4().hex[:10]}"
    with time_machine.travel(dt.datetime(2026, 9, 14, 9, 0, tzinfo=dt.UTC), tick=False):
        waits = [ratelimit.reserve(channel) for _ in range(3)]
        assert ratelimit.reserve(other) == 0  # channels do not slow each other
    assert waits == [0, 1, 2]


def test_a_429_pushes_the_channel_schedule_back(settings):
    settings.SLACK_CHANNEL_INTERVAL_S = 1.0
    channel = f"C{uuid.uuid4().hex[:10]}"
    with time_machine.travel(dt.datetime(2026, 9, 14, 9, 0, tzinfo=dt.UTC), tick=False):
        ratelimit.push_back(channel, 30)
        assert ratelimit.reserve(channel) == 30


def test_without_an_interval_nothing_waits(settings):
    settings.SLACK_CHANNEL_INTERVAL_S = 0
    assert ratelimit.reserve("CANY") == 0
