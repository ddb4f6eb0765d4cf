"""Issue 9, finding 5: a spoke-role call is ours only when it matches one of our revert
attempts; anything else made with the spoke role is reviewed at the highest severity."""

from __future__ import annotations

import copy

import pytest

from approvals import wording
from ingestion.models import ChangeStatus, SecurityGroupChange, Source
from ingestion.parser import parse_record
from ingestion.store import own_role_arns, store_changes
from remediation import tasks
from remediation.models import Outcome, RevertAttempt
from tests.ingestion.helpers import record
from tests.remediation.helpers import REGION, authorized_ingress, deny, make_group, member_ec2

pytestmark = pytest.mark.django_db


@pytest.fixture
def reverted(aws_env, account, approver):
    """A denied Authorize of tcp/22, reverted by the worker: (change, attempt)."""
    ec2 = member_ec2(account)
    _rule, change = authorized_ingress(ec2, make_group(ec2), account)
    decision = deny(change, approver)
    assert tasks.revert_change.apply(args=[change.pk, decision.pk]).get() == Outcome.REVERTED
    return change, RevertAttempt.objects.get(change=change)


def our_revoke(change, attempt, *, session=None, source_identity=None, rule_id=None, n=1):
    """The CloudTrail record our revoke leaves (record 04's shape), as sgportal's spoke
    session would write it."""
    rec = copy.deepcopy(record(4))
    rec["eventID"] = f"our-revoke-{change.pk}-{n}"
    rec["recipientAccountId"] = change.aws_account_id
    rec["awsRegion"] = change.region
    session = session or f"sgportal-change-{change.pk}"
    identity = rec["userIdentity"]
    identity["arn"] = f"arn:aws:sts::{change.aws_account_id}:assumed-role/SgGuardSpoke/{session}"
    identity["sessionContext"]["sessionIssuer"]["arn"] = change.account.spoke_role_arn
    identity["sessionContext"]["sourceIdentity"] = (
        attempt.source_identity if source_identity is None else source_identity
    )
    rule_id = rule_id or change.rules[0]["rule_id"]
    rec["requestParameters"] = {
        "groupId": change.group_id,
        "securityGroupRuleIds": {"items": [{"securityGroupRuleId": rule_id}]},
    }
    del rec["responseElements"]["revokedSecurityGroupRuleSet"]
    return rec


def ingest(tenant, rec) -> SecurityGroupChange:
    parsed = parse_record(rec, own_role_arns=own_role_arns(tenant))
    store_changes(tenant, [parsed], source=Source.LAKE)
    return SecurityGroupChange.objects.get(tenant=tenant, event_id=rec["eventID"])


def test_our_own_revert_comes_back_as_ours(tenant, reverted):
    change, attempt = reverted
    assert attempt.source_identity == "bob-approver"
    stored = ingest(tenant, our_revoke(change, attempt))
    assert (stored.status, stored.via_spoke_role) == (ChangeStatus.OURS, True)


@pytest.mark.parametrize(
    "tamper",
    [
        {"session": "alice-manual"},
        {"session": "sgportal-inventory"},
        {"source_identity": "alice"},
        {"source_identity": ""},
        {"rule_id": "sgr-0000000000000beef"},
    ],
)
def test_anything_else_made_with_the_spoke_role_is_reviewed_at_the_highest_severity(
    tenant, reverted, tamper
):
    change, attempt = reverted
    stored = ingest(tenant, our_revoke(change, attempt, **tamper))
    assert (stored.status, stored.via_spoke_role) == (ChangeStatus.PENDING, True)
    severity = wording.severity_of(stored)
    assert severity == wording.SPOKE_ROLE
    assert severity.level == max(s.level for s in wording.SEVERITIES)


def test_a_session_naming_another_tenants_change_is_not_ours(
    tenant, other_tenant, other_account, reverted
):
    change, attempt = reverted
    rec = our_revoke(change, attempt)  # a real revert of tenant's, replayed in other_tenant
    rec["recipientAccountId"] = other_account.account_id
    rec["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = other_account.spoke_role_arn
    stored = ingest(other_tenant, rec)
    assert (stored.status, stored.via_spoke_role) == (ChangeStatus.PENDING, True)


def test_a_session_naming_a_change_in_another_region_is_not_ours(tenant, reverted):
    change, attempt = reverted
    rec = our_revoke(change, attempt)
    rec["awsRegion"] = "us-west-2" if REGION != "us-west-2" else "eu-west-1"
    assert ingest(tenant, rec).status == ChangeStatus.PENDING


def test_the_policy_never_auto_approves_a_spoke_role_change(tenant, reverted, monkeypatch):
    from approvals.policy import apply_policy
    from sgportal.models import Policy

    change, attempt = reverted
    tenant.default_policy = Policy.AUTO_APPROVE
    tenant.save(update_fields=["default_policy"])
    stored = ingest(tenant, our_revoke(change, attempt, session="alice-manual"))
    counts = apply_policy(tenant.pk, [stored.pk])
    assert counts["decided"] == 0
    stored.refresh_from_db()
    assert stored.status == ChangeStatus.PENDING
    assert not stored.decisions.exists()
