"""Issue 10, item 10: a redelivered revert acts only on the rules its attempt planned."""

from __future__ import annotations

import pytest

from ingestion.models import ChangeStatus
from remediation import attempts
from remediation.models import AttemptStatus, Outcome, RevertAttempt
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


class WorkerDied(Exception):
    """Stands in for a SIGKILL right after the EC2 call."""


def test_a_redelivered_revert_leaves_an_identical_rule_added_since_alone(
    aws_env, account, approver, client_hooks
):
    ec2 = member_ec2(account)
    group = make_group(ec2)
    added = authorize(ec2, group, ingress(22))[0]
    # An old record: the rule without its id (no securityGroupRuleSet in the response).
    change = make_change(
        account,
        "AuthorizeSecurityGroupIngress",
        group,
        [rule_json("added", added["definition"])],
    )
    readded: list[str] = []

    def die_after_revoke(client):
        def after(**kwargs):
            if not readded:  # once: someone re-adds the same rule before the redelivery
                readded.append(authorize(ec2, group, ingress(22))[0]["rule_id"])
                raise WorkerDied

        if client.meta.service_model.service_name == "ec2":
            client.meta.events.register("after-call.ec2.RevokeSecurityGroupIngress", after)

    client_hooks.append(die_after_revoke)
    attempt = attempts.start_revert(change.pk, deny(change, approver).pk)
    with pytest.raises(WorkerDied):
        attempts.execute_attempt(attempt)

    stored = RevertAttempt.objects.get(pk=attempt.pk)
    assert stored.status == AttemptStatus.RUNNING
    # Resolved to the snapshot's rule id before acting, and stored with the snapshot.
    assert stored.plan["calls"][0]["params"]["SecurityGroupRuleIds"] == [added["rule_id"]]
    assert stored.plan["expect"][0]["rule_id"] == added["rule_id"]
    assert readded and readded[0] != added["rule_id"]

    # The redelivery: the planned rule is gone (NotFound), the re-added one stays.
    assert attempts.execute_attempt(stored) == Outcome.REVERTED
    remaining = {r["rule_id"] for r in group_rules(ec2, group)}
    assert readded[0] in remaining
    assert added["rule_id"] not in remaining
    change.refresh_from_db()
    assert change.status == ChangeStatus.REVERTED


def test_a_rule_already_gone_before_acting_is_not_revoked_by_permission(aws_env, account, approver):
    ec2 = member_ec2(account)
    group = make_group(ec2)
    added = authorize(ec2, group, ingress(3389, "192.0.2.0/24"))[0]
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[added["rule_id"]])
    change = make_change(
        account,
        "AuthorizeSecurityGroupIngress",
        group,
        [rule_json("added", added["definition"])],
    )
    attempt = attempts.start_revert(change.pk, deny(change, approver).pk)
    assert attempts.execute_attempt(attempt) == Outcome.REVERTED
    attempt.refresh_from_db()
    assert attempt.plan["calls"] == []
    assert attempt.plan["expect"][0]["state"] == "gone_before"
    assert attempt.calls == []
