"""Worker plumbing: the per-account cap and giving up when a task runs out of retries."""

from __future__ import annotations

import pytest

from ingestion.models import ChangeStatus
from remediation import attempts, sweeps, tasks
from remediation.concurrency import AccountBusy, _redis, account_slot
from remediation.models import AttemptStatus, Outcome, RevertAttempt
from tests.remediation.helpers import deny, ingress, make_change, rule_json

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(_redis() is None, reason="needs a Redis broker")
def test_it_caps_concurrent_reverts_per_account(settings):
    settings.REMEDIATION_ACCOUNT_CONCURRENCY = 2
    key = (9001, "111111111111")
    with account_slot(*key), account_slot(*key):
        with pytest.raises(AccountBusy), account_slot(*key):
            pass
        with account_slot(9001, "222222222222"):
            pass
    with account_slot(*key), account_slot(*key):
        pass


@pytest.mark.skipif(_redis() is None, reason="needs a Redis broker")
def test_tenants_never_share_an_accounts_slots(settings):
    """Two tenants naming the same account id (one of them wrongly): a tenant filling its
    slots neither blocks the other's reverts nor takes theirs."""
    settings.REMEDIATION_ACCOUNT_CONCURRENCY = 2
    with account_slot(9001, "333333333333"), account_slot(9001, "333333333333"):
        with pytest.raises(AccountBusy), account_slot(9001, "333333333333"):
            pass
        with account_slot(9002, "333333333333"), account_slot(9002, "333333333333"):
            pass


def test_it_fails_the_attempt_when_the_task_gives_up(account, approver):
    change = make_change(
        account,
        "AuthorizeSecurityGroupIngress",
        "sg-0123456789abcdef0",
        [rule_json("added", ingress(22), "sgr-1")],
    )
    attempts.start_revert(change.pk, deny(change, approver).pk)

    tasks.revert_change.on_failure(AccountBusy("2 reverts running"), "t-1", [change.pk], {}, None)

    attempt = RevertAttempt.objects.get()
    assert attempt.status == AttemptStatus.FAILED
    assert attempt.outcome == Outcome.REVERT_FAILED
    assert "AccountBusy" in attempt.detail
    change.refresh_from_db()
    assert change.status == ChangeStatus.REVERT_FAILED


def test_it_resumes_reverts_whose_task_was_lost(aws_env, account, approver, eager, settings):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from tests.remediation.helpers import authorize, group_rules, make_group, member_ec2

    ec2 = member_ec2(account)
    group = make_group(ec2)
    running, lost, fresh = (authorize(ec2, group, ingress(p))[0] for p in (22, 23, 24))
    changes = {}
    with time_machine.travel(timezone.now() - timedelta(hours=1), tick=False):
        for name, rule in (("running", running), ("lost", lost)):
            change = make_change(
                account,
                "AuthorizeSecurityGroupIngress",
                group,
                [rule_json("added", rule["definition"], rule["rule_id"])],
            )
            changes[name] = (change, deny(change, approver))
        attempts.start_revert(changes["running"][0].pk, changes["running"][1].pk)
    change = make_change(
        account,
        "AuthorizeSecurityGroupIngress",
        group,
        [rule_json("added", fresh["definition"], fresh["rule_id"])],
    )
    deny(change, approver)

    assert tasks.resume_stale_attempts.apply().get() == 2

    left = {r["rule_id"] for r in group_rules(ec2, group)}
    assert running["rule_id"] not in left
    assert lost["rule_id"] not in left
    assert fresh["rule_id"] in left  # its task may still be on its way
    assert tasks.resume_stale_attempts.apply().get() == 0


def test_it_schedules_the_sweep_in_beat():
    from django_celery_beat.models import PeriodicTask

    from tests.beat import start_beat

    start_beat()

    entry = PeriodicTask.objects.get(task=tasks.RESUME_STALE)
    assert entry.interval.every == 60
    assert entry.expire_seconds == 60


def test_an_unclaimed_denial_is_resumed_sooner_than_a_running_attempt(account, approver):
    """After a broker outage a denial nobody picked up is re-sent after minutes, while an
    attempt a worker is running is left alone until it outlives any task."""
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    def denied(rule_id):
        change = make_change(
            account,
            "AuthorizeSecurityGroupIngress",
            "sg-0123456789abcdef0",
            [rule_json("added", ingress(22), rule_id)],
        )
        return change, deny(change, approver)

    (lost, lost_decision), (running, running_decision) = denied("sgr-1"), denied("sgr-2")
    attempts.start_revert(running.pk, running_decision.pk)

    with time_machine.travel(timezone.now() + timedelta(minutes=4), tick=False):
        assert sweeps.stale_work(1200, 300) == []
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert sweeps.stale_work(1200, 300) == [("revert", lost.pk, lost_decision.pk)]
    with time_machine.travel(timezone.now() + timedelta(minutes=21), tick=False):
        assert sorted(sweeps.stale_work(1200, 300)) == sorted(
            [("revert", lost.pk, lost_decision.pk), ("revert", running.pk, running_decision.pk)]
        )
