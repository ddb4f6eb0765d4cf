"""Decisions reach remediation through change_decided; an undo re-applies what was reverted."""

from __future__ import annotations

import pytest

from ingestion.models import ChangeStatus
from remediation import attempts
from remediation.models import AttemptKind, Outcome, RevertAttempt
from sgportal.events import change_decided, changes_ingested
from sgportal.models import AuditAction, AuditEntry
from tests.remediation.helpers import (
    authorize,
    deny,
    group_rules,
    ingress,
    make_change,
    make_group,
    member_ec2,
    rule_json,
)

pytestmark = pytest.mark.django_db


def decided(change, decision_id: int) -> None:
    """What decide() announces after commit."""
    change_decided.send(
        sender=None, change_id=change.pk, decision_id=decision_id, tenant_id=change.tenant_id
    )


@pytest.fixture
def ec2(aws_env, account):
    return member_ec2(account)


def denied_authorize(ec2, account, *definitions):
    group = make_group(ec2)
    added = authorize(ec2, group, *definitions)
    change = make_change(
        account,
        "AuthorizeSecurityGroupIngress",
        group,
        [rule_json("added", r["definition"], r["rule_id"]) for r in added],
    )
    return group, added, change


def test_it_reverts_when_a_deny_is_decided(ec2, account, approver, eager):
    group, added, change = denied_authorize(ec2, account, ingress(22))
    decision = deny(change, approver)

    decided(change, decision.pk)

    change.refresh_from_db()
    assert change.status == ChangeStatus.REVERTED
    assert group_rules(ec2, group) == [
        r for r in group_rules(ec2, group) if r["rule_id"] != added[0]["rule_id"]
    ]
    assert added[0]["rule_id"] not in {r["rule_id"] for r in group_rules(ec2, group)}


def test_it_ignores_approvals(ec2, account, approver, eager):
    group, added, change = denied_authorize(ec2, account, ingress(22))
    change.status = ChangeStatus.APPROVED
    change.save()
    decision = deny(change, approver)
    decision.verdict = "approve"
    decision.save()

    decided(change, decision.pk)

    assert not RevertAttempt.objects.exists()


def test_it_undoes_a_revert_through_a_decision(
    ec2, account, approver, admin_user, eager, django_capture_on_commit_callbacks
):
    group, added, change = denied_authorize(
        ec2, account, ingress(22, description="ssh"), ingress(443, "198.51.100.0/24")
    )
    with django_capture_on_commit_callbacks(execute=True):
        decided(change, deny(change, approver).pk)
    assert not {r["rule_id"] for r in group_rules(ec2, group)} & {r["rule_id"] for r in added}
    change.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        decision = attempts.request_undo(change, admin_user, "web", reason="needed for deploy")

    assert decision.verdict == "undo_revert"
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED
    restored = sorted(
        (
            r["definition"]
            for r in group_rules(ec2, group)
            if r["definition"]["direction"] == "ingress"
        ),
        key=lambda d: d["from_port"],
    )
    assert restored == [r["definition"] for r in added]
    undo = RevertAttempt.objects.get(kind=AttemptKind.UNDO)
    assert undo.outcome == Outcome.UNDONE
    assert undo.source_identity == admin_user.username
    assert [c["operation"] for c in undo.plan["calls"]] == ["AuthorizeSecurityGroupIngress"] * 2
    actions_logged = list(
        AuditEntry.objects.filter(object_id=str(change.pk)).values_list("action", flat=True)
    )
    assert actions_logged.count(AuditAction.REVERT_RESULT) == 2
    assert AuditEntry.objects.filter(action=AuditAction.DECIDE).exists()


def test_it_undoes_a_reauthorization_by_revoking_only_the_rule_it_added(
    ec2, account, approver, eager
):
    group = make_group(ec2)
    egress = next(r for r in group_rules(ec2, group) if r["definition"]["protocol"] == "-1")
    ec2.revoke_security_group_egress(GroupId=group, SecurityGroupRuleIds=[egress["rule_id"]])
    change = make_change(
        account, "RevokeSecurityGroupEgress", group, [rule_json("removed", egress["definition"])]
    )
    decided(change, deny(change, approver).pk)
    assert len(group_rules(ec2, group)) == 1
    change.refresh_from_db()

    attempts.request_undo(change, approver, "slack")
    decided(change, change.decisions.get(verdict="undo_revert").pk)

    assert group_rules(ec2, group) == []
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED


def test_it_records_an_undo_only_once(ec2, account, approver, eager):
    group, added, change = denied_authorize(ec2, account, ingress(22))
    decided(change, deny(change, approver).pk)
    attempts.request_undo(change, approver, "web")
    decision = change.decisions.get(verdict="undo_revert")
    for _ in range(2):
        decided(change, decision.pk)

    assert RevertAttempt.objects.filter(kind=AttemptKind.UNDO).count() == 1
    assert len([r for r in group_rules(ec2, group) if r["definition"]["from_port"] == 22]) == 1


def test_it_refreshes_the_inventory_when_changes_are_ingested(ec2, account, eager):
    from remediation.models import InventoryRule

    group, added, change = denied_authorize(ec2, account, ingress(22))
    change.status = ChangeStatus.PENDING
    change.save()

    changes_ingested.send(sender=None, tenant_id=account.tenant_id, change_ids=[change.pk])

    rows = {r.rule_id: r for r in InventoryRule.objects.filter(group_id=group)}
    assert set(rows) == {r["rule_id"] for r in group_rules(ec2, group)}
    assert rows[added[0]["rule_id"]].definition == added[0]["definition"]
    assert all(r.present for r in rows.values())


def test_it_reports_an_undo_that_cannot_be_applied(ec2, account, approver, eager):
    group, added, change = denied_authorize(ec2, account, ingress(22))
    decided(change, deny(change, approver).pk)
    ec2.delete_security_group(GroupId=group)
    change.refresh_from_db()

    attempts.request_undo(change, approver, "web")
    decided(change, change.decisions.get(verdict="undo_revert").pk)

    undo = RevertAttempt.objects.get(kind=AttemptKind.UNDO)
    assert undo.outcome == Outcome.UNDO_FAILED
    assert "is not present" in undo.detail
    change.refresh_from_db()
    assert change.status == ChangeStatus.REVERTED
