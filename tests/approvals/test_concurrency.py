"""Approve and Deny at the same moment: exactly one decision (real PostgreSQL, threads)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from approvals.actions import AlreadyDecided, decide
from approvals.models import Decision
from ingestion.models import SecurityGroupChange
from sgportal.audit import verify_chain
from sgportal.models import AuditAction, AuditEntry
from tests.approvals.conftest import click, link
from tests.approvals.factories import ChangeFactory, SlackMessageFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 5


def race(*callables):
    """Run the callables at once (each on its own thread and DB connection)."""
    barrier = threading.Barrier(len(callables))
    results: list = [None] * len(callables)

    def run(i, fn):
        try:
            barrier.wait()
            results[i] = fn()
        except Exception as exc:  # collected for the assertions
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(callables)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_approve_and_deny_leave_exactly_one_decision(
    transactional_db, account, approver, admin_user
):
    for _ in range(ROUNDS):
        change = ChangeFactory(account=account)
        results = race(
            lambda c=change: decide(c, verdict="approve", actor=approver, via="web"),
            lambda c=change: decide(
                SecurityGroupChange.objects.get(pk=c.pk),
                verdict="deny",
                actor=admin_user,
                via="slack",
                reason="opens SSH to the world",
            ),
        )
        decisions = [r for r in results if isinstance(r, Decision)]
        refusals = [r for r in results if isinstance(r, AlreadyDecided)]
        assert len(decisions) == 1 and len(refusals) == 1, results
        assert "already decided by" in str(refusals[0])
        assert Decision.objects.filter(change=change).count() == 1
        change.refresh_from_db()
        expected = "approved" if decisions[0].verdict == "approve" else "denied"
        assert change.status == expected
    assert AuditEntry.objects.filter(action=AuditAction.DECIDE).count() == ROUNDS
    assert verify_chain(account.tenant).ok


def test_concurrent_clicks_in_slack_leave_exactly_one_decision(
    transactional_db, account, approver, admin_user, reasonless_deny
):
    link(approver, account.tenant, "U0BOB0001")
    link(admin_user, account.tenant, "U0ALICE01")
    for _ in range(ROUNDS):
        message = SlackMessageFactory(change=ChangeFactory(account=account))
        results = race(
            lambda t=message.action_token: click(Client(), t, action="approve"),
            lambda t=message.action_token: click(Client(), t, action="deny", user="U0ALICE01"),
        )
        assert [r.status_code for r in results] == [200, 200], results
        outcomes = sorted(r.json()["outcome"] for r in results)
        assert outcomes == ["decided", "refused"]
        assert Decision.objects.filter(change=message.change).count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.DECIDE).count() == ROUNDS


def test_a_click_on_a_change_locked_elsewhere_is_told_to_retry_and_writes_nothing(
    transactional_db, account, approver, reasonless_deny
):
    """Slack gives up after 3 s: a click does not wait on a row lock held elsewhere (here a
    long transaction holding the change) beyond the lock timeout; it writes nothing, says
    so, and a later click decides."""
    from django.db import transaction

    from approvals.slack.views import BUSY

    link(approver, account.tenant, "U0BOB0001")
    message = SlackMessageFactory(change=ChangeFactory(account=account))
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with transaction.atomic():
                SecurityGroupChange.objects.select_for_update().get(pk=message.change_id)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        response = click(Client(), message.action_token, action="deny")
    finally:
        release.set()
        holder.join(timeout=30)
    assert response.status_code == 200
    assert response.json()["outcome"] == "busy"
    assert response.json()["text"] == BUSY
    assert not Decision.objects.exists()
    assert not AuditEntry.objects.exists()

    again = click(Client(), message.action_token, action="deny")
    assert again.json()["outcome"] == "decided"
    assert Decision.objects.get().verdict == "deny"
