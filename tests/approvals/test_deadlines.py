"""Deadlines (issue 15): default outcomes and escalation, with time frozen; claims that
neither skip nor double an outcome."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from approvals.models import Decision
from approvals.policy import deadlines
from approvals.policy.deadlines import sweep, time_left
from approvals.policy.models import DeadlineStage, PolicyMatch, PolicyRule, ReviewerGroup
from ingestion.models import ChangeStatus
from sgportal import events
from sgportal.models import AuditAction, AuditEntry
from tests.approvals.factories import ChangeFactory
from tests.factories import MembershipFactory, UserFactory

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def routed(tenant, account, django_capture_on_commit_callbacks):
    """Ingest one change under a rule with a 60-minute deadline and the given outcome."""

    def run(outcome: str, **rule):
        PolicyRule.objects.create(
            tenant=tenant,
            name="prod",
            match={},
            deadline_minutes=60,
            default_outcome=outcome,
            **rule,
        )
        change = ChangeFactory(account=account)
        with (
            time_machine.travel(NOW, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            events.changes_ingested.send(sender=None, tenant_id=tenant.pk, change_ids=[change.pk])
        return change

    return run


def at(minutes: float, capture) -> dict:
    with (
        time_machine.travel(NOW + dt.timedelta(minutes=minutes), tick=False),
        capture(execute=True),
    ):
        return sweep(inline=True)


@pytest.mark.parametrize(
    ("outcome", "status", "verdict"),
    [("approve", ChangeStatus.AUTO_APPROVED, "approve"), ("revert", ChangeStatus.DENIED, "deny")],
)
def test_the_default_outcome_applies_at_the_deadline_once(
    routed, django_capture_on_commit_callbacks, outcome, status, verdict
):
    change = routed(outcome)
    assert at(59, django_capture_on_commit_callbacks)["claimed"] == 0
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING
    assert at(61, django_capture_on_commit_callbacks)["claimed"] == 1
    assert at(62, django_capture_on_commit_callbacks)["claimed"] == 0  # never twice
    change.refresh_from_db()
    assert change.status == status
    decision = Decision.objects.get(change=change)
    assert (decision.via, decision.verdict) == ("policy", verdict)
    assert "'prod'" in decision.reason and "no decision within 60 min" in decision.reason
    entry = AuditEntry.objects.get(action=AuditAction.DECIDE)
    assert entry.via == "policy" and "'prod'" in entry.actor_name
    assert PolicyMatch.objects.get(pk=change.pk).stage == DeadlineStage.DONE


def test_escalation_reminds_in_the_thread_then_posts_to_the_escalation_channel(
    routed, slack_tenant, slack, tenant, django_capture_on_commit_callbacks
):
    escalation = ReviewerGroup.objects.create(tenant=tenant, name="managers")
    change = routed("escalate", escalation_channel="CESCALATE", escalation_group=escalation)
    [post] = slack.calls_to("chat.postMessage")
    thread = post.response["ts"] if hasattr(post, "response") else None
    at(61, django_capture_on_commit_callbacks)
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 2
    reminder = posts[1].body
    assert "Still waiting" in reminder["text"] and reminder.get("thread_ts")
    if thread:
        assert reminder["thread_ts"] == thread
    assert PolicyMatch.objects.get(pk=change.pk).stage == DeadlineStage.REMINDED
    at(100, django_capture_on_commit_callbacks)
    assert len(slack.calls_to("chat.postMessage")) == 2  # not yet: due again at 121 min
    at(122, django_capture_on_commit_callbacks)
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 3
    assert posts[2].body["channel"] == "CESCALATE" and "Escalated" in posts[2].body["text"]
    at(500, django_capture_on_commit_callbacks)
    assert len(slack.calls_to("chat.postMessage")) == 3
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING  # escalation decides nothing
    # From now on the escalation group may decide too.
    boss = UserFactory(username="boss")
    MembershipFactory(user=boss, tenant=tenant, role="approver")
    escalation.members.add(boss)
    from approvals.policy.gate import may_decide

    assert may_decide(change.pk, boss)


def test_a_claimed_row_is_taken_again_after_its_lease_when_a_worker_died(
    routed, django_capture_on_commit_callbacks
):
    change = routed("revert")
    with time_machine.travel(NOW + dt.timedelta(minutes=61), tick=False):
        claimed = deadlines._claim_batch(NOW + dt.timedelta(minutes=61), 100, None)
        assert [change_id for _, change_id in claimed] == [change.pk]
        # ...the worker that got the chunk dies here: nothing applied.
    assert at(62, django_capture_on_commit_callbacks)["claimed"] == 0  # still leased
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING
    lease_over = 61 + deadlines.LEASE_S / 60 + 1
    assert at(lease_over, django_capture_on_commit_callbacks)["claimed"] == 1
    change.refresh_from_db()
    assert change.status == ChangeStatus.DENIED
    assert Decision.objects.filter(change=change).count() == 1


def test_a_long_outage_delays_but_does_not_skip(routed, django_capture_on_commit_callbacks):
    change = routed("approve")
    at(60 * 24 * 7, django_capture_on_commit_callbacks)
    change.refresh_from_db()
    assert change.status == ChangeStatus.AUTO_APPROVED


def test_a_human_decision_first_leaves_nothing_to_do(
    routed, approver, django_capture_on_commit_callbacks
):
    from approvals.actions import decide

    change = routed("revert")
    decide(change, verdict="approve", actor=approver, via="web")
    at(61, django_capture_on_commit_callbacks)
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED
    assert Decision.objects.filter(change=change).count() == 1
    assert PolicyMatch.objects.get(pk=change.pk).stage == DeadlineStage.DONE


def test_time_left_is_shown_on_the_page_and_in_words(
    routed, client, approver, django_capture_on_commit_callbacks
):
    change = routed("revert")
    match = PolicyMatch.objects.get(pk=change.pk)
    assert time_left(match, NOW + dt.timedelta(minutes=15)) == (
        "45 min left to decide; then it is reverted"
    )
    client.force_login(approver)
    with time_machine.travel(NOW + dt.timedelta(minutes=30), tick=False):
        page = client.get(f"/changes/{change.pk}/").content.decode()
    assert "30 min left to decide; then it is reverted" in page


def test_batches_claim_every_due_row_once_without_walking_back(
    tenant, account, other_tenant, other_account, monkeypatch
):
    """Keyset batches: rows sharing one due time, some already leased, two tenants; every
    free due row is claimed exactly once, leased and not-yet-due rows are not."""
    due = NOW - dt.timedelta(minutes=5)
    later = NOW + dt.timedelta(minutes=5)
    rows = {}
    for i in range(23):
        change = ChangeFactory(account=account if i % 2 else other_account)
        leased = NOW + dt.timedelta(minutes=1) if i % 7 == 3 else None
        when = later if i == 22 else due
        rows[change.pk] = PolicyMatch.objects.create(
            change=change,
            tenant=change.tenant,
            rule_name="r",
            action="review",
            due_at=when,
            claimed_until=leased,
            stage=DeadlineStage.WAITING,
        )
    handed: list[list[int]] = []
    monkeypatch.setattr(deadlines.publish, "enqueue", lambda task, args: handed.append(args[0]))
    batches = []
    real = deadlines._claim_batch
    monkeypatch.setattr(
        deadlines, "_claim_batch", lambda *a: batches.append(real(*a)) or batches[-1]
    )
    with time_machine.travel(NOW, tick=False):
        counts = sweep(batch=4)
    claimed = [change_id for chunk in handed for change_id in chunk]
    expected = {pk for pk, m in rows.items() if m.claimed_until is None and m.due_at == due}
    assert len(claimed) == len(set(claimed)) == counts["claimed"] == len(expected) == 19
    assert set(claimed) == expected
    keys = [key for batch in batches for key in batch]
    assert keys == sorted(keys)  # each batch after the last: no row seen twice
