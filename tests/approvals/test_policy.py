"""The policy step on changes_ingested: review notifies, auto_* decide via policy."""

from __future__ import annotations

import pytest

from approvals.models import Decision, SlackMessage
from ingestion.models import ChangeStatus
from sgportal import events
from sgportal.models import AuditAction, AuditEntry, Policy
from tests.approvals.factories import ChangeFactory


@pytest.fixture
def batch(account):
    """One change of each kind ingestion stores."""
    return {
        status: ChangeFactory(account=account, status=status)
        for status in (
            ChangeStatus.PENDING,
            ChangeStatus.INFORMATIONAL,
            ChangeStatus.OURS,
            ChangeStatus.UNPARSEABLE,
        )
    }


def ingest(tenant, changes, capture):
    with capture(execute=True):
        events.changes_ingested.send(
            sender=None, tenant_id=tenant.pk, change_ids=[c.pk for c in changes]
        )


def statuses(batch):
    for change in batch.values():
        change.refresh_from_db()
    return {key: change.status for key, change in batch.items()}


def test_review_posts_only_pending_changes_to_slack(
    slack_tenant, slack, batch, django_capture_on_commit_callbacks
):
    ingest(slack_tenant, batch.values(), django_capture_on_commit_callbacks)
    message = SlackMessage.objects.get()
    assert message.change == batch[ChangeStatus.PENDING]
    assert message.status == "posted" and message.ts and message.channel == "CACME0001"
    [post] = slack.calls_to("chat.postMessage")
    assert post.body["channel"] == "CACME0001"
    assert statuses(batch) == {s: s for s in batch}  # nothing decided
    assert not Decision.objects.exists()


def test_a_repeated_signal_posts_once(
    slack_tenant, slack, batch, django_capture_on_commit_callbacks
):
    ingest(slack_tenant, batch.values(), django_capture_on_commit_callbacks)
    ingest(slack_tenant, batch.values(), django_capture_on_commit_callbacks)
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_review_without_slack_leaves_the_change_in_the_web_queue(
    tenant, batch, slack, django_capture_on_commit_callbacks
):
    ingest(tenant, batch.values(), django_capture_on_commit_callbacks)
    message = SlackMessage.objects.get()
    assert message.status == "skipped" and "not configured" in message.last_error
    assert slack.calls == []
    assert statuses(batch)[ChangeStatus.PENDING] == ChangeStatus.PENDING


def test_auto_approve_decides_via_policy(
    slack_tenant, slack, batch, django_capture_on_commit_callbacks
):
    slack_tenant.default_policy = Policy.AUTO_APPROVE
    slack_tenant.save()
    ingest(slack_tenant, batch.values(), django_capture_on_commit_callbacks)
    result = statuses(batch)
    assert result[ChangeStatus.PENDING] == ChangeStatus.AUTO_APPROVED
    assert {k: v for k, v in result.items() if k != ChangeStatus.PENDING} == {
        s: s for s in batch if s != ChangeStatus.PENDING
    }
    decision = Decision.objects.get()
    assert (decision.via, decision.verdict, decision.user) == ("policy", "approve", None)
    entry = AuditEntry.objects.get(action=AuditAction.DECIDE)
    assert entry.via == "policy" and "auto_approve" in entry.actor_name
    assert slack.calls_to("chat.postMessage") == []


def test_auto_revert_denies_via_policy_and_announces_it(
    slack_tenant, batch, django_capture_on_commit_callbacks
):
    slack_tenant.default_policy = Policy.AUTO_REVERT
    slack_tenant.save()
    announced = []
    events.change_decided.connect(
        lambda sender, change_id, decision_id, **kw: announced.append(change_id),
        dispatch_uid="test-policy",
        weak=False,
    )
    try:
        ingest(slack_tenant, batch.values(), django_capture_on_commit_callbacks)
    finally:
        events.change_decided.disconnect(dispatch_uid="test-policy")
    assert statuses(batch)[ChangeStatus.PENDING] == ChangeStatus.DENIED
    decision = Decision.objects.get()
    assert (decision.via, decision.verdict) == ("policy", "deny")
    assert announced == [batch[ChangeStatus.PENDING].pk]


def test_policy_ignores_changes_of_another_tenant(
    tenant, other_account, django_capture_on_commit_callbacks
):
    tenant.default_policy = Policy.AUTO_APPROVE
    tenant.save()
    foreign = ChangeFactory(account=other_account)
    ingest(tenant, [foreign], django_capture_on_commit_callbacks)
    foreign.refresh_from_db()
    assert foreign.status == ChangeStatus.PENDING
    assert not Decision.objects.exists()


def test_policy_skips_a_change_a_human_already_decided(
    tenant, account, approver, django_capture_on_commit_callbacks
):
    from approvals.actions import decide

    tenant.default_policy = Policy.AUTO_REVERT
    tenant.save()
    change = ChangeFactory(account=account)
    decide(change, verdict="approve", actor=approver, via="web")
    ingest(tenant, [change], django_capture_on_commit_callbacks)
    assert Decision.objects.get().via == "web"
