"""Reverting denied changes in the member account, one case per event type."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ingestion.models import ChangeStatus
from remediation import attempts, inventory, tasks
from remediation.models import AttemptStatus, Outcome, RevertAttempt
from sgportal.audit import actor_name_of
from sgportal.events import revert_finished
from sgportal.models import AuditAction, AuditEntry
from tests.remediation.helpers import (
    REGION,
    authorize,
    authorized_ingress,
    deny,
    group_rules,
    ingress,
    make_change,
    make_group,
    member_ec2,
    rule_json,
)

pytestmark = pytest.mark.django_db


def revert(change, decision):
    return tasks.revert_change.apply(args=[change.pk, decision.pk]).get()


def results(change):
    return list(
        AuditEntry.objects.filter(
            tenant=change.tenant, action=AuditAction.REVERT_RESULT, object_id=str(change.pk)
        )
    )


@pytest.fixture
def ec2(aws_env, account):
    return member_ec2(account)


@pytest.fixture
def group(ec2):
    return make_group(ec2)


def test_it_revokes_authorized_ingress_rules_by_id(ec2, group, account, approver):
    keep = authorize(ec2, group, ingress(443, "10.0.0.0/8"))[0]
    added = authorize(ec2, group, ingress(22), ingress(3389, "192.0.2.0/24", description="rdp"))
    change = make_change(
        account,
        "AuthorizeSecurityGroupIngress",
        group,
        [rule_json("added", r["definition"], r["rule_id"]) for r in added],
    )

    assert revert(change, deny(change, approver)) == Outcome.REVERTED

    remaining = {r["rule_id"] for r in group_rules(ec2, group)}
    assert not remaining & {r["rule_id"] for r in added}
    assert keep["rule_id"] in remaining
    change.refresh_from_db()
    assert change.status == ChangeStatus.REVERTED
    attempt = RevertAttempt.objects.get(change=change)
    assert attempt.status == AttemptStatus.DONE
    assert [c["params"]["SecurityGroupRuleIds"] for c in attempt.plan["calls"]] == [
        [added[0]["rule_id"]],
        [added[1]["rule_id"]],
    ]
    assert {r["rule_id"] for r in attempt.before} >= {r["rule_id"] for r in added}
    assert not {r["rule_id"] for r in attempt.after} & {r["rule_id"] for r in added}
    assert [e.actor_name for e in results(change)] == [actor_name_of(approver)]
    assert results(change)[0].actor_id == approver.pk


def test_it_revokes_authorized_egress_by_the_snapshots_rule_id_when_the_record_has_no_ids(
    ec2, group, account, approver
):
    https = {
        "direction": "egress",
        "protocol": "tcp",
        "from_port": 443,
        "to_port": 443,
        "cidr_ipv4": "203.0.113.0/24",
    }
    added = authorize(ec2, group, https)[0]
    change = make_change(
        account, "AuthorizeSecurityGroupEgress", group, [rule_json("added", https)]
    )

    assert revert(change, deny(change, approver)) == Outcome.REVERTED

    attempt = RevertAttempt.objects.get(change=change)
    call = attempt.plan["calls"][0]
    assert call["operation"] == "RevokeSecurityGroupEgress"
    # Resolved against the snapshot before acting (issue 10, item 10): by id, not by
    # permission, so a redelivery can never hit an identical rule added since.
    assert call["params"] == {"GroupId": group, "SecurityGroupRuleIds": [added["rule_id"]]}
    definitions = [r["definition"] for r in group_rules(ec2, group)]
    assert all(d.get("cidr_ipv4") != "203.0.113.0/24" for d in definitions)
    assert any(d["protocol"] == "-1" for d in definitions)  # the default egress rule stays


def test_it_fails_when_the_describe_contradicts_a_successful_call(
    ec2, group, account, approver, client_hooks
):
    """EC2 can answer true while revoking nothing (default VPC mismatches): only the
    describe decides."""
    rule, change = authorized_ingress(ec2, group, account, 22)

    class Ok:
        status_code = 200

    def pretend(client):
        client.meta.events.register(
            "before-call.ec2.RevokeSecurityGroupIngress",
            lambda **kw: (Ok(), {"Return": True, "ResponseMetadata": {"RequestId": "r-1"}}),
        )

    client_hooks.append(pretend)

    assert revert(change, deny(change, approver)) == Outcome.REVERT_FAILED

    attempt = RevertAttempt.objects.get(change=change)
    assert attempt.error_code == "NotConfirmed"
    assert f"{rule['rule_id']} (ingress tcp/22 from 0.0.0.0/0) is still present" in attempt.detail


def test_it_reauthorizes_rules_a_revoke_removed(ec2, group, account, approver):
    default_egress = next(r for r in group_rules(ec2, group) if r["definition"]["protocol"] == "-1")
    ec2.revoke_security_group_egress(
        GroupId=group, SecurityGroupRuleIds=[default_egress["rule_id"]]
    )
    change = make_change(
        account,
        "RevokeSecurityGroupEgress",
        group,
        [rule_json("removed", default_egress["definition"])],
    )

    assert revert(change, deny(change, approver)) == Outcome.REVERTED

    assert [r["definition"] for r in group_rules(ec2, group)] == [default_egress["definition"]]
    call = RevertAttempt.objects.get(change=change).plan["calls"][0]
    assert call["operation"] == "AuthorizeSecurityGroupEgress"


def test_it_reauthorizes_a_rule_revoked_by_id_from_the_inventory(ec2, group, account, approver):
    rule = authorize(ec2, group, ingress(443, description="public https"))[0]
    earlier = timezone.now() - timedelta(hours=1)
    inventory.record_snapshot(account, REGION, group, group_rules(ec2, group), at=earlier)
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[rule["rule_id"]])
    # The record carries only the id (the request shape of fixture 04).
    change = make_change(
        account,
        "RevokeSecurityGroupIngress",
        group,
        [{"action": "removed", "direction": "ingress", "protocol": "", "rule_id": rule["rule_id"]}],
    )

    assert revert(change, deny(change, approver)) == Outcome.REVERTED

    restored = [
        r["definition"]
        for r in group_rules(ec2, group)
        if r["definition"]["direction"] == "ingress"
    ]
    assert restored == [rule["definition"]]


@pytest.fixture
def modified(ec2, group, account):
    """A rule modified an hour after the inventory saw it: (its original, the change)."""
    rule = authorize(ec2, group, ingress(22, "10.0.0.0/8", description="ssh from vpn"))[0]
    inventory.record_snapshot(
        account, REGION, group, group_rules(ec2, group), at=timezone.now() - timedelta(hours=1)
    )
    new = ingress(3389, description="temp rdp")
    ec2.modify_security_group_rules(
        GroupId=group,
        SecurityGroupRules=[
            {
                "SecurityGroupRuleId": rule["rule_id"],
                "SecurityGroupRule": {
                    "IpProtocol": "tcp",
                    "FromPort": 3389,
                    "ToPort": 3389,
                    "CidrIpv4": "0.0.0.0/0",
                    "Description": "temp rdp",
                },
            }
        ],
    )
    change = make_change(
        account,
        "ModifySecurityGroupRules",
        group,
        [rule_json("modified", new, rule["rule_id"])],
        event_time=timezone.now() - timedelta(minutes=1),
    )
    # The change arrives: ingestion's signal refreshes the inventory, which now sees the new
    # values. That must not overwrite the definition the revert needs.
    inventory.refresh_groups([change.pk])
    return rule, change


def test_it_restores_a_modified_rule_from_the_inventory(ec2, group, modified, approver):
    rule, change = modified

    assert revert(change, deny(change, approver)) == Outcome.REVERTED

    current = {r["rule_id"]: r["definition"] for r in group_rules(ec2, group)}
    assert current[rule["rule_id"]] == rule["definition"]
    call = RevertAttempt.objects.get(change=change).plan["calls"][0]
    assert call["operation"] == "ModifySecurityGroupRules"


def test_a_modify_revert_in_dry_run_proves_permissions_and_changes_nothing(
    ec2, group, modified, approver, tenant
):
    rule, change = modified
    tenant.dry_run = True
    tenant.save()
    before = {r["rule_id"]: r["definition"] for r in group_rules(ec2, group)}

    assert revert(change, deny(change, approver)) == Outcome.DRY_RUN

    assert {r["rule_id"]: r["definition"] for r in group_rules(ec2, group)} == before
    assert before[rule["rule_id"]] != rule["definition"]  # still the modified values
    attempt = RevertAttempt.objects.get(change=change)
    assert [(c["operation"], c["result"]) for c in attempt.calls] == [
        ("ModifySecurityGroupRules", "dry_run_ok")
    ]
    change.refresh_from_db()
    assert change.status == ChangeStatus.DENIED


def test_it_fails_a_modify_with_no_prior_state_known(ec2, group, account, approver):
    rule = authorize(ec2, group, ingress(22))[0]
    change = make_change(
        account,
        "ModifySecurityGroupRules",
        group,
        [rule_json("modified", ingress(23), rule["rule_id"])],
    )

    assert revert(change, deny(change, approver)) == Outcome.REVERT_FAILED

    change.refresh_from_db()
    assert change.status == ChangeStatus.REVERT_FAILED
    attempt = RevertAttempt.objects.get(change=change)
    assert "no prior state known" in attempt.detail
    assert rule["rule_id"] in attempt.detail
    assert "no prior state known" in results(change)[0].after["detail"]


@pytest.mark.parametrize(
    ("event_name", "words"),
    [("CreateSecurityGroup", "not reverted"), ("DeleteSecurityGroup", "cannot be reverted")],
)
def test_it_does_not_revert_group_creation_or_deletion(
    aws_env, account, approver, event_name, words
):
    change = make_change(account, event_name, "sg-0123456789abcdef0", [])

    assert revert(change, deny(change, approver)) == Outcome.REVERT_FAILED

    attempt = RevertAttempt.objects.get(change=change)
    assert attempt.plan["revertible"] is False
    assert words in attempt.plan["reason"]
    assert words in attempt.detail
    assert attempt.calls == []


def test_it_counts_a_rule_deleted_out_of_band_as_reverted_once(ec2, group, account, approver):
    rule, change = authorized_ingress(ec2, group, account, 22)
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[rule["rule_id"]])
    decision = deny(change, approver)

    assert revert(change, decision) == Outcome.REVERTED
    assert revert(change, decision) is None  # a redelivered task does nothing

    attempt = RevertAttempt.objects.get(change=change)
    assert "NotFound" in attempt.calls[0]["code"]
    assert len(results(change)) == 1


def test_it_resumes_a_running_attempt_after_a_crash_and_records_it_once(
    ec2, group, account, approver
):
    rule, change = authorized_ingress(ec2, group, account, 22)
    decision = deny(change, approver)
    attempt = attempts.start_revert(change.pk, decision.pk)
    # The first worker revoked the rule and died before recording anything.
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[rule["rule_id"]])

    assert revert(change, decision) == Outcome.REVERTED

    assert RevertAttempt.objects.get().pk == attempt.pk
    assert len(results(change)) == 1
    assert (
        AuditEntry.objects.filter(
            action=AuditAction.REVERT_ATTEMPT, object_id=str(change.pk)
        ).count()
        == 1
    )


def test_it_sends_revert_finished_after_commit(
    ec2, group, account, approver, django_capture_on_commit_callbacks
):
    rule, change = authorized_ingress(ec2, group, account, 22)
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    revert_finished.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            revert(change, deny(change, approver))
    finally:
        revert_finished.disconnect(receiver)

    attempt = RevertAttempt.objects.get()
    assert received == [
        {
            "signal": revert_finished,
            "change_id": change.pk,
            "attempt_id": attempt.pk,
            "outcome": "reverted",
            "detail": attempt.detail,
        }
    ]


def test_it_marks_a_policy_deny_as_auto_reverted(ec2, group, account):
    rule, change = authorized_ingress(ec2, group, account, 22)

    assert revert(change, deny(change, None, via="policy")) == Outcome.AUTO_REVERTED

    change.refresh_from_db()
    assert change.status == ChangeStatus.AUTO_REVERTED
    assert results(change)[0].actor_name == "system"


def test_it_ignores_changes_that_are_not_denied(ec2, group, account, approver):
    change = make_change(
        account, "AuthorizeSecurityGroupIngress", group, [], status=ChangeStatus.PENDING
    )

    assert tasks.revert_change.apply(args=[change.pk]).get() is None
    assert tasks.revert_change.apply(args=[999999]).get() is None

    assert not RevertAttempt.objects.exists()


def test_it_confirms_rules_of_a_deleted_group_as_gone(ec2, group, account, approver):
    rule, change = authorized_ingress(ec2, group, account, 22)
    ec2.delete_security_group(GroupId=group)

    assert revert(change, deny(change, approver)) == Outcome.REVERTED

    attempt = RevertAttempt.objects.get()
    assert attempt.calls[0]["code"] in ("InvalidGroup.NotFound", "InvalidPermission.NotFound")
    assert f"group {group} no longer exists in account 111111111111" in attempt.detail


def test_it_acts_in_the_change_s_member_account_only(aws_env, tenant, approver):
    from tests.factories import AwsAccountFactory

    accounts = [
        AwsAccountFactory(tenant=tenant, account_id=n, name=f"member-{n}")
        for n in ("111111111111", "222222222222")
    ]
    clients = [member_ec2(a) for a in accounts]
    groups = [make_group(c) for c in clients]
    rules = [authorize(c, g, ingress(22))[0] for c, g in zip(clients, groups, strict=True)]
    change = make_change(
        accounts[1],
        "AuthorizeSecurityGroupIngress",
        groups[1],
        [rule_json("added", rules[1]["definition"], rules[1]["rule_id"])],
    )

    assert revert(change, deny(change, approver)) == Outcome.REVERTED

    assert rules[1]["rule_id"] not in {r["rule_id"] for r in group_rules(clients[1], groups[1])}
    assert rules[0]["rule_id"] in {r["rule_id"] for r in group_rules(clients[0], groups[0])}
    assert RevertAttempt.objects.get().role_arn == "arn:aws:iam::222222222222:role/SgGuardSpoke"
