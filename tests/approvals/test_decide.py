"""decide(): the one decision path, its transitions, audit and after-commit signal."""

from __future__ import annotations

import pytest
from django.db import transaction

from approvals.actions import AlreadyDecided, InvalidTransition, decide
from approvals.models import Decision
from ingestion.models import ChangeStatus
from sgportal import events
from sgportal.audit import verify_chain
from sgportal.models import AuditAction, AuditEntry
from tests.approvals.factories import ChangeFactory


@pytest.fixture
def decided_signals():
    received = []

    def receiver(sender, change_id, decision_id, **kwargs):
        received.append((change_id, decision_id))

    events.change_decided.connect(receiver, dispatch_uid="test-decided")
    yield received
    events.change_decided.disconnect(dispatch_uid="test-decided")


def test_it_approves_a_pending_change_with_audit_and_signal(
    change, approver, decided_signals, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        decision = decide(change, verdict="approve", actor=approver, via="web", reason="known")
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED
    assert change.status_changed_at is not None
    assert (decision.user, decision.via, decision.verdict) == (approver, "web", "approve")
    entry = AuditEntry.objects.get(action=AuditAction.DECIDE)
    assert entry.tenant_id == change.tenant_id
    assert entry.actor_id == approver.pk
    assert entry.before == {"status": "pending"}
    assert entry.after["status"] == "approved" and entry.after["decision_id"] == decision.pk
    assert decided_signals == [(change.pk, decision.pk)]
    assert verify_chain(change.tenant).ok


def test_it_denies_a_pending_change(change, approver):
    decide(change, verdict="deny", actor=approver, via="slack", reason="opens SSH to the world")
    change.refresh_from_db()
    assert change.status == ChangeStatus.DENIED


@pytest.mark.parametrize(
    ("verdict", "status"),
    [("approve", ChangeStatus.AUTO_APPROVED), ("deny", ChangeStatus.DENIED)],
)
def test_it_marks_policy_decisions(change, verdict, status):
    decision = decide(change, verdict=verdict, actor="policy auto", via="policy")
    change.refresh_from_db()
    assert change.status == status
    assert decision.user is None and decision.actor_name == "policy auto"


def test_it_refuses_a_second_decision_saying_who_and_when(change, approver, admin_user):
    decide(change, verdict="approve", actor=approver, via="web")
    with pytest.raises(AlreadyDecided, match=r"already decided by bob-approver .* at 20\d\d-"):
        decide(
            change, verdict="deny", actor=admin_user, via="slack", reason="opens SSH to the world"
        )
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED
    assert Decision.objects.count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.DECIDE).count() == 1


def test_a_stale_change_object_still_cannot_be_decided_twice(change, approver, admin_user):
    stale = type(change).objects.get(pk=change.pk)
    decide(change, verdict="deny", actor=approver, via="web", reason="opens SSH to the world")
    assert stale.status == ChangeStatus.PENDING
    with pytest.raises(AlreadyDecided):
        decide(stale, verdict="approve", actor=admin_user, via="web")


@pytest.mark.parametrize(
    "status",
    [ChangeStatus.INFORMATIONAL, ChangeStatus.OURS, ChangeStatus.UNPARSEABLE, ChangeStatus.EXPIRED],
)
def test_it_refuses_changes_that_need_no_decision(account, approver, status):
    change = ChangeFactory(account=account, status=status)
    with pytest.raises(InvalidTransition, match=status):
        decide(change, verdict="approve", actor=approver, via="web")
    assert not Decision.objects.exists()
    assert not AuditEntry.objects.exists()


def test_it_undoes_a_revert_once_leaving_the_status_to_remediation(account, approver):
    change = ChangeFactory(account=account, status=ChangeStatus.REVERTED)
    decision = decide(change, verdict="undo_revert", actor=approver, via="web")
    change.refresh_from_db()
    assert change.status == ChangeStatus.REVERTED
    assert decision.verdict == "undo_revert"
    entry = AuditEntry.objects.get(action=AuditAction.DECIDE)
    assert entry.before == {"status": "reverted"} and entry.after["verdict"] == "undo_revert"
    with pytest.raises(AlreadyDecided):
        decide(change, verdict="undo_revert", actor=approver, via="web")


def test_it_refuses_undo_of_a_change_that_was_not_reverted(change, approver):
    with pytest.raises(InvalidTransition):
        decide(change, verdict="undo_revert", actor=approver, via="web")


def test_nothing_is_announced_when_the_transaction_rolls_back(
    change, approver, decided_signals, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        decide(change, verdict="deny", actor=approver, via="web", reason="opens SSH to the world")
        raise RuntimeError("boom")
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING
    assert not Decision.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditAction.DECIDE).exists()
    assert decided_signals == []


def test_it_rejects_unknown_verdicts_and_doors(change, approver):
    with pytest.raises(ValueError):
        decide(change, verdict="maybe", actor=approver, via="web")
    with pytest.raises(ValueError):
        decide(change, verdict="approve", actor=approver, via="carrier-pigeon")


def test_the_unique_constraint_backs_up_the_status_claim(change, approver, admin_user):
    """Even if a change were still pending with a decision, a second one cannot be stored."""
    from tests.approvals.factories import DecisionFactory

    DecisionFactory(change=change, verdict="approve", actor_name="earlier <e@x>")
    with pytest.raises(AlreadyDecided, match="already decided by earlier"):
        decide(change, verdict="deny", actor=admin_user, via="web", reason="opens SSH to the world")
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING  # the claim rolled back with the insert
    assert Decision.objects.count() == 1
    assert not AuditEntry.objects.exists()
