"""The notification sweep: lost policy steps, lost posts, and posts skipped while Slack was
broken, each sent once and only once."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from approvals import sweeps, tasks
from approvals.actions import decide
from approvals.models import SlackMessage, SlackStatus, SlackWorkspace
from approvals.slack import delivery
from ingestion.models import ChangeStatus
from sgportal import events
from sgportal.models import Policy
from tests.approvals.factories import ChangeFactory, DecisionFactory

STALE_AFTER_S = 600


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """Run the beat task as a worker would (publishing after each commit)."""

    def run() -> dict[str, int]:
        with django_capture_on_commit_callbacks(execute=True):
            return tasks.resume_notifications.delay().get()

    return run


def later(minutes: float):
    return time_machine.travel(timezone.now() + dt.timedelta(minutes=minutes), tick=False)


def queue_without_publishing(change, capture) -> SlackMessage:
    """queue_notification whose after-commit publish never happens (broker down, lost)."""
    with capture(execute=False), transaction.atomic():
        return delivery.queue_notification(change)


@pytest.fixture(autouse=True)
def _stale_after(settings):
    settings.NOTIFY_STALE_AFTER_S = STALE_AFTER_S


def test_changes_whose_policy_step_was_never_published_are_notified_later(
    slack_tenant, slack, account, monkeypatch, django_capture_on_commit_callbacks, caplog, sweep
):
    change = ChangeFactory(account=account)
    down = OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    def broker_down(*args, **kwargs):
        raise down

    monkeypatch.setattr(tasks.apply_policy, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        events.changes_ingested.send_robust(
            sender=None, tenant_id=slack_tenant.pk, change_ids=[change.pk]
        )
    monkeypatch.undo()
    assert not SlackMessage.objects.exists()

    with later(minutes=5):  # within the grace period the step may just be slow
        assert sweep()["policy"] == 0
    with later(minutes=11):
        assert sweep()["policy"] == 1
        assert sweep()["policy"] == 0  # the change has its message now
    [post] = slack.calls_to("chat.postMessage")
    assert SlackMessage.objects.get().status == "posted"
    assert str(change.pk) in str(post.body["blocks"])


def test_the_lost_policy_step_of_an_auto_revert_tenant_decides(slack_tenant, account, sweep):
    slack_tenant.default_policy = Policy.AUTO_REVERT
    slack_tenant.save()
    change = ChangeFactory(account=account)
    with later(minutes=11):
        sweep()
    change.refresh_from_db()
    assert change.status == ChangeStatus.DENIED
    assert change.decisions.get().via == "policy"


def test_a_post_whose_task_was_lost_is_sent_once(
    slack_tenant, slack, account, django_capture_on_commit_callbacks, sweep
):
    message = queue_without_publishing(
        ChangeFactory(account=account), django_capture_on_commit_callbacks
    )
    assert message.status == "pending" and message.due_at is not None
    with later(minutes=5):
        assert sweep()["lost_posts"] == 0
    with later(minutes=11):
        assert sweep()["lost_posts"] == 1
        assert sweep()["lost_posts"] == 0
    assert len(slack.calls_to("chat.postMessage")) == 1
    message.refresh_from_db()
    assert message.status == "posted" and message.attempts == 1


def test_a_post_a_worker_is_sending_is_neither_requeued_nor_doubled(
    slack_tenant, slack, account, django_capture_on_commit_callbacks, sweep
):
    message = queue_without_publishing(
        ChangeFactory(account=account), django_capture_on_commit_callbacks
    )
    with later(minutes=11):
        # A worker claimed the post just now and is talking to Slack.
        SlackMessage.objects.filter(pk=message.pk).update(
            attempts=1, leased_until=timezone.now() + dt.timedelta(seconds=120)
        )
        assert sweep()["lost_posts"] == 0
        assert delivery.deliver(message.pk).state == "skipped"  # a copy of its task
    assert slack.calls_to("chat.postMessage") == []
    with later(minutes=25):  # that worker died mid-post: its lease ran out
        assert sweep()["lost_posts"] == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_post_waiting_for_its_paced_slot_is_not_requeued(
    slack_tenant, slack, account, django_capture_on_commit_callbacks, sweep
):
    message = queue_without_publishing(
        ChangeFactory(account=account), django_capture_on_commit_callbacks
    )
    delivery.postpone(message.pk, 30 * 60)  # a burst: its turn in the channel is in 30 min
    with later(minutes=35):
        assert sweep()["lost_posts"] == 0
    with later(minutes=41):
        assert sweep()["lost_posts"] == 1


def test_messages_skipped_while_slack_was_broken_go_out_once_it_is_fixed(
    slack_tenant, slack, account, other_tenant, django_capture_on_commit_callbacks, sweep
):
    # A settings error on the first post: the tenant is flagged broken, the message skipped.
    slack.fail_next("chat.postMessage", error="invalid_auth")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = delivery.queue_notification(ChangeFactory(account=account))
    first.refresh_from_db()
    slack_tenant.refresh_from_db()
    assert first.status == "skipped" and slack_tenant.slack_workspace.status == SlackStatus.BROKEN
    # While broken, later changes are skipped without calling Slack.
    with transaction.atomic():
        second = delivery.queue_notification(ChangeFactory(account=account))
        decided = delivery.queue_notification(ChangeFactory(account=account))
        old = delivery.queue_notification(ChangeFactory(account=account))
    DecisionFactory(change=decided.change, verdict="approve")
    type(decided.change).objects.filter(pk=decided.change_id).update(status="approved")
    type(old.change).objects.filter(pk=old.change_id).update(
        ingested_at=timezone.now() - dt.timedelta(days=2)
    )
    # Another tenant, still broken, keeps its skipped message.
    other_tenant.slack_workspace.bot_token = "xoxb-globex"
    other_tenant.slack_workspace.status = SlackStatus.BROKEN
    other_tenant.slack_workspace.save()
    with transaction.atomic():
        outsider = delivery.queue_notification(ChangeFactory(account__tenant=other_tenant))
    assert sweep()["skipped"] == 0
    assert len(slack.calls_to("chat.postMessage")) == 1  # only the failed first attempt

    SlackWorkspace.objects.filter(tenant=slack_tenant).update(
        status=SlackStatus.OK, error=""
    )  # the admin fixed the token
    assert sweep()["skipped"] == 2
    assert sweep()["skipped"] == 0
    posted = {call.body["channel"] for call in slack.calls_to("chat.postMessage")[1:]}
    assert posted == {"CACME0001"}
    assert len(slack.calls_to("chat.postMessage")) == 3
    status = dict(SlackMessage.objects.values_list("pk", "status"))
    assert status[first.pk] == status[second.pk] == "posted"
    assert status[decided.pk] == status[old.pk] == status[outsider.pk] == "skipped"


def test_a_tenant_without_slack_keeps_its_messages_skipped(tenant, slack, account, sweep):
    with transaction.atomic():
        message = delivery.queue_notification(ChangeFactory(account=account))
    message.refresh_from_db()
    assert message.status == "skipped"
    assert sweep() == {"policy": 0, "lost_posts": 0, "skipped": 0, "stale_updates": 0}
    assert slack.calls == []


def test_the_sweep_is_a_beat_entry(db):
    from django_celery_beat.models import PeriodicTask

    from tests.beat import start_beat

    start_beat()
    entry = PeriodicTask.objects.get(task="approvals.tasks.resume_notifications")
    assert entry.interval.every == 120


def test_unsent_messages_are_a_metric(scrape_metrics, slack_tenant, account):
    SlackWorkspace.objects.filter(tenant=slack_tenant).update(status=SlackStatus.BROKEN)
    slack_tenant.refresh_from_db()
    with transaction.atomic():
        delivery.queue_notification(ChangeFactory(account=account))
    body = scrape_metrics()
    assert 'sgportal_slack_messages_unsent{status="skipped",tenant="acme"} 1.0' in body


def test_a_sweep_repairs_nothing_twice_across_kinds(
    slack_tenant, slack, account, django_capture_on_commit_callbacks
):
    """A change whose policy step is lost and is then repaired is not also a 'lost post'."""
    ChangeFactory(account=account)
    with later(minutes=11), django_capture_on_commit_callbacks(execute=True):
        counts = sweeps.resume_notifications(STALE_AFTER_S)
    assert counts == {"policy": 1, "lost_posts": 0, "skipped": 0, "stale_updates": 0}
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_message_whose_update_was_lost_is_refreshed_once(
    slack_tenant, slack, account, approver, other_tenant, django_capture_on_commit_callbacks, sweep
):
    def posted(change):
        return SlackMessage.objects.create(
            change=change,
            channel="CACME0001",
            ts=f"1789372800.{change.pk:06d}",
            status="posted",
            posted_at=timezone.now(),
        )

    denied, refused, elsewhere = (
        posted(ChangeFactory(account=account)),
        posted(ChangeFactory(account=account)),
        posted(ChangeFactory(account__tenant=other_tenant)),
    )
    SlackMessage.objects.filter(pk=refused.pk).update(last_error="message_not_found")
    # Decided, but the broker lost the publishes that follow the commit.
    with later(minutes=1), django_capture_on_commit_callbacks(execute=False):
        for message in (denied, refused, elsewhere):
            decide(
                message.change,
                verdict="deny",
                actor=approver,
                via="web",
                reason="opens SSH to the world",
            )
    with later(minutes=5):
        assert sweep()["stale_updates"] == 0  # may still be on its way
    with later(minutes=12):
        assert sweep()["stale_updates"] == 1  # not the refused one, not Slack-less Globex
        assert sweep()["stale_updates"] == 0
    [update] = slack.calls_to("chat.update")
    assert update.body["ts"] == denied.ts
    assert "Denied by *bob-approver" in str(update.body["blocks"])
