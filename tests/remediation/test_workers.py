"""Worker plumbing: the per-account cap and giving up when a task runs out of retries."""

from __future__ import annotations

import pytest

from ingestion.models import ChangeStatus
from remediation import actions, tasks
from remediation.concurrency import AccountBusy, _redis, account_slot
from remediation.models import AttemptStatus, Outcome, RevertAttempt
from tests.remediation.helpers import deny, ingress, make_change, rule_json

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(_redis() is None, reason="needs a Redis broker")
def test_it_caps_concurrent_reverts_per_account(settings):
    settings.REMEDIATION_ACCOUNT_CONCURRENCY = 2
    key = "test-cap-111111111111"
    with account_slot(key), account_slot(key):
        with pytest.raises(AccountBusy), account_slot(key):
            pass
        with account_slot("test-cap-222222222222"):
            pass
    with account_slot(key), account_slot(key):
        pass


def test_it_fails_the_attempt_when_the_task_gives_up(account, approver):
    change = make_change(
        account,
        "AuthorizeSecurityGroupIngress",
        "sg-0123456789abcdef0",
        [rule_json("added", ingress(22), "sgr-1")],
    )
    actions.start_revert(change.pk, deny(change, approver).pk)

    tasks.revert_change.on_failure(AccountBusy("2 reverts running"), "t-1", [change.pk], {}, None)

    attempt = RevertAttempt.objects.get()
    assert attempt.status == AttemptStatus.FAILED
    assert attempt.outcome == Outcome.REVERT_FAILED
    assert "AccountBusy" in attempt.detail
    change.refresh_from_db()
    assert change.status == ChangeStatus.REVERT_FAILED
