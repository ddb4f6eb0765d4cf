"""The Slack notifier against the local stand-in: real HTTP through slack_sdk."""

from __future__ import annotations

import json

import pytest

from approvals.actions import decide
from approvals.models import SlackStatus, SlackWorkspace
from approvals.slack import delivery
from approvals.slack.transport import SlackTransport, TransportError
from approvals.tasks import post_slack_message
from ingestion.rules import Rule
from sgportal import events
from sgportal.models import AuditAction, AuditEntry
from tests.approvals.factories import ChangeFactory, SlackMessageFactory

MIXED_RULES = [
    Rule("added", "ingress", "tcp", 22, 22, cidr_ipv4="0.0.0.0/0").to_json(),
    Rule(
        "added",
        "ingress",
        "-1",
        referenced_group_id="sg-0peer",
        referenced_account_id="111111111111",
    ).to_json(),
    Rule("added", "ingress", "icmp", -1, -1, cidr_ipv4="10.0.0.0/8").to_json(),
    Rule("added", "ingress", "-1", prefix_list_id="pl-0abc123").to_json(),
    Rule("added", "ingress", "tcp", 443, 443, cidr_ipv6="::/0", description="public web").to_json(),
]


def blocks_text(call) -> str:
    return json.dumps(call.body["blocks"])


def buttons(call) -> list[dict]:
    return [
        element
        for block in call.body["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


@pytest.fixture
def queued(slack_tenant, account):
    change = ChangeFactory(account=account, rules=MIXED_RULES)
    return SlackMessageFactory(change=change)


def test_it_posts_a_message_that_says_what_where_and_who(queued, slack):
    outcome = delivery.deliver(queued.pk)
    assert outcome.state == "posted"
    [call] = slack.calls_to("chat.postMessage")
    assert call.token == "xoxb-acme-bot-token"
    assert call.body["channel"] == "CACME0001"
    text = blocks_text(call)
    header = call.body["blocks"][0]
    assert header["type"] == "header"
    assert "open to the world on an admin port" in header["text"]["text"].lower()
    for expected in (
        "prod-payments (111111111111)",
        "us-east-1",
        "sg-0123456789abcdef0",
        "web-frontend",
        "vpc-0abc1234",
        "tcp/22 from 0.0.0.0/0",
        "all traffic from sg-0peer in 111111111111",
        "icmp from 10.0.0.0/8",
        "all traffic from prefix list pl-0abc123",
        "tcp/443 from ::/0 (public web)",
        "IAMUser",
        "arn:aws:iam::111111111111:user/dev-alex",
        "AWS CLI",
        "198.51.100.23",
        f"https://sgportal.example.com/changes/{queued.change_id}/",
    ):
        assert expected in text, expected
    queued.refresh_from_db()
    assert queued.status == "posted"
    assert queued.channel == "CACME0001" and queued.ts
    assert queued.attempts == 1


def test_its_buttons_carry_only_the_opaque_token(queued, slack):
    delivery.deliver(queued.pk)
    [call] = slack.calls_to("chat.postMessage")
    values = {b["action_id"]: b["value"] for b in buttons(call)}
    assert values == {"approve": queued.action_token, "deny": queued.action_token}
    assert queued.action_token not in {str(queued.pk), str(queued.change_id)}
    assert len(queued.action_token) >= 32
    other = SlackMessageFactory(change=ChangeFactory(account=queued.change.account))
    assert other.action_token != queued.action_token


@pytest.mark.parametrize(
    ("rules", "label"),
    [
        ([Rule("added", "ingress", "tcp", 3389, 3389, cidr_ipv6="::/0").to_json()], "admin port"),
        ([Rule("added", "ingress", "tcp", 443, 443, cidr_ipv4="0.0.0.0/0").to_json()], "world"),
        ([Rule("added", "ingress", "tcp", 22, 22, cidr_ipv4="10.1.0.0/16").to_json()], "opens"),
        ([Rule("removed", "ingress", "tcp", 22, 22, cidr_ipv4="0.0.0.0/0").to_json()], "change"),
    ],
)
def test_its_header_carries_the_severity(slack_tenant, account, slack, rules, label):
    message = SlackMessageFactory(change=ChangeFactory(account=account, rules=rules))
    delivery.deliver(message.pk)
    header = slack.calls_to("chat.postMessage")[0].body["blocks"][0]["text"]["text"].lower()
    assert label in header
    if label != "admin port":
        assert "admin port" not in header


@pytest.mark.parametrize(
    "error",
    ["invalid_auth", "channel_not_found", "not_in_channel", "account_inactive", "token_revoked"],
)
def test_a_permanent_error_flags_the_tenant_and_is_not_retried(queued, slack, slack_tenant, error):
    slack.fail_next("chat.postMessage", error=error, times=5)
    assert post_slack_message.delay(queued.pk).get() == "failed"
    assert len(slack.calls_to("chat.postMessage")) == 1
    queued.refresh_from_db()
    slack_tenant.refresh_from_db()
    # Skipped, not failed: the settings are at fault, so it is sent once they are fixed.
    assert queued.status == "skipped" and queued.last_error == error
    assert slack_tenant.slack_workspace.status == SlackStatus.BROKEN
    assert slack_tenant.slack_workspace.error == error
    entry = AuditEntry.objects.get(action=AuditAction.UPDATE, tenant=slack_tenant)
    assert entry.after == {"status": "broken", "error": error}


def test_once_broken_further_changes_are_not_sent(
    queued, slack, slack_tenant, account, django_capture_on_commit_callbacks
):
    slack.fail_next("chat.postMessage", error="invalid_auth")
    delivery.deliver(queued.pk)
    later = ChangeFactory(account=account)
    with django_capture_on_commit_callbacks(execute=True):
        message = delivery.queue_notification(later)
    message.refresh_from_db()
    assert message.status == "skipped" and "broken" in message.last_error
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_a_429_is_retried_after_retry_after(queued, slack, slack_tenant):
    slack.rate_limit_next("chat.postMessage", retry_after=7)
    with pytest.raises(delivery.RetryLater) as info:
        delivery.deliver(queued.pk)
    assert info.value.countdown == 7
    queued.refresh_from_db()
    assert queued.status == "pending" and "rate limited" in queued.last_error
    slack_tenant.refresh_from_db()
    assert slack_tenant.slack_workspace.status == SlackStatus.OK


def test_the_task_retries_transient_errors_then_posts(queued, slack):
    slack.rate_limit_next("chat.postMessage", retry_after=1)
    slack.fail_next("chat.postMessage", error="internal_error")
    assert post_slack_message.delay(queued.pk).get() == "posted"
    assert len(slack.calls_to("chat.postMessage")) == 3
    queued.refresh_from_db()
    assert queued.status == "posted" and queued.attempts == 3 and queued.last_error == ""


def test_the_task_gives_up_after_its_retries(queued, slack, slack_tenant):
    slack.fail_next("chat.postMessage", error="internal_error", times=20)
    assert post_slack_message.delay(queued.pk).get() == "failed"
    queued.refresh_from_db()
    assert queued.status == "failed" and "gave up" in queued.last_error
    slack_tenant.refresh_from_db()
    # Transient: the settings are not blamed.
    assert slack_tenant.slack_workspace.status == SlackStatus.OK


def test_a_post_that_fails_unexpectedly_stays_pending_for_the_sweep(queued, monkeypatch):
    """Only running out of retries gives a post up; any other failure of the task leaves it
    pending, so the notification sweep sends it again (approvals.tasks.SlackPostTask)."""

    def broken(message_id, **kwargs):
        raise ValueError("a bug, not Slack")

    monkeypatch.setattr(delivery, "deliver", broken)
    result = post_slack_message.delay(queued.pk)
    assert result.failed() and isinstance(result.result, ValueError)
    queued.refresh_from_db()
    assert (queued.status, queued.last_error) == ("pending", "")


def test_the_tasks_that_give_up_share_one_base():
    from approvals.tasks import update_slack_message
    from remediation.tasks import revert_change, undo_revert
    from sgportal.tasks import GiveUpTask

    for task in (post_slack_message, update_slack_message, revert_change, undo_revert):
        assert isinstance(task, GiveUpTask), task.name


def test_a_posted_message_is_not_posted_again(queued, slack):
    delivery.deliver(queued.pk)
    assert delivery.deliver(queued.pk).state == "skipped"
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_the_task_returns_early_when_the_row_is_gone(db, slack):
    assert post_slack_message.delay(987654).get() == "gone"
    assert slack.calls == []


def test_a_decision_updates_the_message(
    queued, slack, approver, django_capture_on_commit_callbacks
):
    delivery.deliver(queued.pk)
    queued.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        decide(queued.change, verdict="approve", actor=approver, via="web")
    [call] = slack.calls_to("chat.update")
    assert (call.body["channel"], call.body["ts"]) == (queued.channel, queued.ts)
    assert "Approved by *bob-approver" in blocks_text(call)
    assert buttons(call) == []


def test_a_finished_revert_updates_the_message(
    queued, slack, approver, django_capture_on_commit_callbacks
):
    delivery.deliver(queued.pk)
    with django_capture_on_commit_callbacks(execute=True):
        decide(
            queued.change,
            verdict="deny",
            actor=approver,
            via="web",
            reason="opens SSH to the world",
        )
    assert "Reverting" in blocks_text(slack.calls_to("chat.update")[-1])
    # The outcome is read from the change's revert attempts (issue 11 item 6), not a copy.
    failed = attempt(queued.change, "failed", "revert_failed", "spoke role may not revoke")
    with django_capture_on_commit_callbacks(execute=True):
        events.revert_finished.send(
            sender=None,
            change_id=queued.change_id,
            attempt_id=failed.pk,
            outcome="revert_failed",
            detail="UnauthorizedOperation: spoke role may not revoke",
        )
    last = blocks_text(slack.calls_to("chat.update")[-1])
    assert "Revert failed" in last and "UnauthorizedOperation: spoke role may not revoke" in last
    done = attempt(queued.change, "done", "reverted", "confirmed")
    with django_capture_on_commit_callbacks(execute=True):
        events.revert_finished.send(
            sender=None, change_id=queued.change_id, attempt_id=done.pk, outcome="reverted"
        )
    assert "Reverted: the rules are gone" in blocks_text(slack.calls_to("chat.update")[-1])


def attempt(change, status: str, outcome: str, detail: str):
    from django.utils import timezone

    from remediation.models import RevertAttempt

    RevertAttempt.objects.filter(change=change, status="running").update(status="failed")
    now = timezone.now()
    return RevertAttempt.objects.create(
        change=change,
        status=status,
        outcome=outcome,
        actor_name="bob-approver",
        error_code="UnauthorizedOperation" if status == "failed" else "",
        detail=detail,
        started_at=now,
        finished_at=now,
    )


def test_an_update_before_the_post_waits_for_the_post(
    queued, slack, approver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        decide(queued.change, verdict="approve", actor=approver, via="web")
    assert slack.calls_to("chat.update") == []
    delivery.deliver(queued.pk)
    [post] = slack.calls_to("chat.postMessage")
    assert "Approved by" in blocks_text(post) and buttons(post) == []


def test_transport_errors_from_the_network_are_transient(slack_tenant, settings, queued):
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # nothing listens on the discard port
    with pytest.raises(TransportError) as info:
        SlackTransport(slack_tenant).notify(queued)
    assert info.value.permanent is False


def test_a_first_successful_post_marks_the_settings_ok(queued, slack, slack_tenant):
    SlackWorkspace.objects.filter(tenant=slack_tenant).update(status="unconfigured")
    delivery.deliver(queued.pk)
    slack_tenant.refresh_from_db()
    assert slack_tenant.slack_workspace.status == SlackStatus.OK


def test_an_error_about_the_message_fails_it_without_blaming_the_settings(
    queued, slack, slack_tenant
):
    slack.fail_next("chat.postMessage", error="invalid_blocks", times=3)
    assert post_slack_message.delay(queued.pk).get() == "failed"
    assert len(slack.calls_to("chat.postMessage")) == 1
    queued.refresh_from_db()
    slack_tenant.refresh_from_db()
    assert queued.status == "failed" and queued.last_error == "invalid_blocks"
    assert slack_tenant.slack_workspace.status == SlackStatus.OK
    assert not AuditEntry.objects.filter(action=AuditAction.UPDATE).exists()


def test_an_update_of_a_deleted_message_is_not_retried(queued, slack, slack_tenant):
    from approvals.tasks import update_slack_message

    delivery.deliver(queued.pk)
    slack.fail_next("chat.update", error="message_not_found", times=3)
    assert update_slack_message.delay(queued.change_id).get() == "failed"
    assert len(slack.calls_to("chat.update")) == 1
    slack_tenant.refresh_from_db()
    assert slack_tenant.slack_workspace.status == SlackStatus.OK


def test_a_revoked_token_on_update_flags_the_settings(queued, slack, slack_tenant):
    from approvals.tasks import update_slack_message

    delivery.deliver(queued.pk)
    slack.fail_next("chat.update", error="token_revoked")
    assert update_slack_message.delay(queued.change_id).get() == "failed"
    slack_tenant.refresh_from_db()
    assert slack_tenant.slack_workspace.status == SlackStatus.BROKEN
