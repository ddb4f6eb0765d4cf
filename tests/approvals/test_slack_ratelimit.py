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


def test_a_burst_to_one_channel_is_spread_out(settings, slack_tenant, slack, account):
    from approvals.slack import delivery
    from approvals.tasks import post_slack_message
    from tests.approvals.factories import ChangeFactory, SlackMessageFactory

    settings.SLACK_CHANNEL_INTERVAL_S = 2.0
    slack_tenant.slack_workspace.channel_id = f"C{uuid.uuid4().hex[:10].upper()}"
    slack_tenant.slack_workspace.save()
    first, second = (SlackMessageFactory(change=ChangeFactory(account=account)) for _ in "12")
    with time_machine.travel(dt.datetime(2026, 9, 14, 9, 0, tzinfo=dt.UTC), tick=False):
        assert delivery.deliver(first.pk).state == "posted"
        outcome = delivery.deliver(second.pk)
    assert (outcome.state, outcome.delay) == ("rescheduled", 2)
    assert len(slack.calls_to("chat.postMessage")) == 1  # the second waits for its slot
    # The task re-enqueues itself for the booked slot (eager here: at once) and then posts.
    with time_machine.travel(dt.datetime(2026, 9, 14, 9, 0, tzinfo=dt.UTC), tick=False):
        assert post_slack_message.delay(second.pk, slot_booked=True).get() == "posted"
    assert len(slack.calls_to("chat.postMessage")) == 2
