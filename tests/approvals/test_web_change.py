"""The change page with the whole story (issue 13 item 3), the revert attempts as the result
(issue 11 item 6) and the undo door for tenant admins (issue 11 item 7)."""

from __future__ import annotations

import datetime as dt

import pytest

from approvals.actions import decide
from approvals.models import Decision, Verdict
from ingestion.models import ChangeStatus, SecurityGroupChange
from remediation.models import InventoryRule, RevertAttempt
from sgportal.audit import record_audit
from sgportal.models import AuditAction, AuditEntry
from tests.approvals.factories import ChangeFactory

NOW = dt.datetime(2026, 9, 14, 9, 0, tzinfo=dt.UTC)


def page_of(client, change) -> str:
    response = client.get(f"/changes/{change.pk}/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def reverted(change, approver):
    """``change`` denied and reverted, with its finished attempt."""
    decision = decide(change, verdict="deny", actor=approver, via="web", reason="not approved")
    RevertAttempt.objects.create(
        change=change,
        decision=decision,
        status="done",
        outcome="reverted",
        actor_name="bob-approver",
        role_arn="arn:aws:iam::111111111111:role/sgportal-spoke",
        source_identity="bob-approver",
        plan={"calls": [{"operation": "RevokeSecurityGroupIngress", "summary": "revoke sgr-0aaa"}]},
        before=[{"rule_id": "sgr-0aaa"}],
        after=[],
        aws_request_id="req-0123-abcd",
        detail="confirmed: sgr-0aaa gone",
        started_at=NOW,
        finished_at=NOW,
    )
    SecurityGroupChange.objects.filter(pk=change.pk).update(status=ChangeStatus.REVERTED)
    change.refresh_from_db()
    return change


def test_it_tells_the_whole_story(client, viewer, account, change):
    change.raw = {
        "eventID": change.event_id,
        "userIdentity": {"sessionContext": {"attributes": {"mfaAuthenticated": "true"}}},
    }
    change.session_issuer_arn = "arn:aws:iam::111111111111:role/Admin"
    change.save()
    same_group = ChangeFactory(account=account, group_id=change.group_id, actor_arn="x")
    same_actor = ChangeFactory(
        account=account, group_id="sg-0other0000000", actor_arn=change.actor_arn
    )
    InventoryRule.objects.create(
        tenant=change.tenant,
        account=account,
        region=change.region,
        group_id=change.group_id,
        rule_id="sgr-0now",
        definition={
            "direction": "ingress",
            "protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "cidr_ipv4": "10.0.0.0/8",
        },
        refreshed_at=NOW,
    )
    client.force_login(viewer)
    page = page_of(client, change)
    assert "web-frontend" in page and "vpc-0abc1234" in page
    assert "arn:aws:iam::111111111111:role/Admin" in page
    assert "<td>yes</td>" in page  # MFA
    assert "aws-cli/2.17.20" in page and "198.51.100.23" in page
    assert "sgr-0now" in page and "tcp/443 from 10.0.0.0/8" in page
    assert f"/changes/{same_group.pk}/" in page and f"/changes/{same_actor.pk}/" in page
    assert "&quot;mfaAuthenticated&quot;: &quot;true&quot;" in page  # pretty raw JSON
    assert "#SecurityGroup:groupId=sg-0123456789abcdef0" in page
    assert f"#/events/{change.event_id}" in page
    assert "The added rule will be removed" not in page  # viewers get no decide form


def test_it_shows_the_revert_attempts_and_audit_history(client, viewer, reverted):
    record_audit(
        reverted.tenant,
        AuditAction.REVERT_RESULT,
        actor="worker",
        obj=reverted,
        after={"outcome": "reverted"},
    )
    client.force_login(viewer)
    page = page_of(client, reverted)
    assert "Revert #" in page and "arn:aws:iam::111111111111:role/sgportal-spoke" in page
    assert "req-0123-abcd" in page and "confirmed: sgr-0aaa gone" in page
    assert "SourceIdentity <code>bob-approver</code>" in page
    assert "Decision taken" in page and "Revert finished" in page
    assert "Undo this revert" not in page  # viewers


def test_a_failed_revert_says_why_without_slack(client, viewer, change, approver):
    decision = decide(change, verdict="deny", actor=approver, via="web", reason="no")
    RevertAttempt.objects.create(
        change=change,
        decision=decision,
        status="failed",
        outcome="revert_failed",
        actor_name="bob",
        error_code="UnauthorizedOperation",
        detail="spoke role lacks ec2:Revoke",
        started_at=NOW,
        finished_at=NOW,
    )
    SecurityGroupChange.objects.filter(pk=change.pk).update(status=ChangeStatus.REVERT_FAILED)
    client.force_login(viewer)
    page = page_of(client, change)
    assert "UnauthorizedOperation" in page and "spoke role lacks ec2:Revoke" in page


def test_deny_needs_a_reason_on_the_web(client, approver, change):
    client.force_login(approver)
    response = client.post(f"/changes/{change.pk}/decide/", {"verdict": "deny"}, follow=True)
    assert b"a deny needs a reason" in response.content
    assert not Decision.objects.exists()
    client.post(f"/changes/{change.pk}/decide/", {"verdict": "deny", "reason": "unexpected"})
    assert Decision.objects.get().reason == "unexpected"


def test_the_approver_sees_the_confirmation_for_this_event_type(client, approver, change):
    client.force_login(approver)
    page = page_of(client, change)
    assert "The added rule will be removed from sg-0123456789abcdef0." in page
    assert 'data-confirm="Deny change' in page


def test_the_status_fragment_polls_only_while_a_revert_runs(client, viewer, change, reverted):
    client.force_login(viewer)
    SecurityGroupChange.objects.filter(pk=change.pk).update(status=ChangeStatus.REVERTING)
    moving = client.get(f"/changes/{change.pk}/status/").content.decode()
    assert moving.startswith('<section id="change-status"') and 'hx-trigger="every 2s"' in moving
    SecurityGroupChange.objects.filter(pk=change.pk).update(status=ChangeStatus.REVERTED)
    done = client.get(f"/changes/{change.pk}/status/").content.decode()
    assert "hx-trigger" not in done and 'data-status="reverted"' in done


def test_a_tenant_admin_undoes_a_revert_through_decide(client, admin_user, reverted):
    client.force_login(admin_user)
    page = page_of(client, reverted)
    assert "Undo this revert" in page and "undo of: revoke sgr-0aaa" in page
    client.post(f"/changes/{reverted.pk}/undo/", {"confirm": "yes", "reason": "was fine"})
    undo = Decision.objects.get(change=reverted, verdict=Verdict.UNDO_REVERT)
    assert (undo.user, undo.via, undo.reason) == (admin_user, "web", "was fine")
    entry = AuditEntry.objects.filter(action=AuditAction.DECIDE).order_by("-seq").first()
    assert entry.after["verdict"] == "undo_revert"


def test_undo_needs_the_confirmation(client, admin_user, reverted):
    client.force_login(admin_user)
    client.post(f"/changes/{reverted.pk}/undo/", {"reason": "oops"})
    assert not Decision.objects.filter(verdict=Verdict.UNDO_REVERT).exists()


@pytest.mark.parametrize("who", ["approver", "viewer", "outsider"])
def test_only_a_tenant_admin_may_undo(client, request, reverted, who):
    client.force_login(request.getfixturevalue(who))
    response = client.post(f"/changes/{reverted.pk}/undo/", {"confirm": "yes"})
    assert response.status_code == (404 if who == "outsider" else 403)
    assert not Decision.objects.filter(verdict=Verdict.UNDO_REVERT).exists()


def test_undo_of_a_change_that_was_not_reverted_is_refused(client, admin_user, change):
    client.force_login(admin_user)
    response = client.post(f"/changes/{change.pk}/undo/", {"confirm": "yes"}, follow=True)
    assert b"Not recorded" in response.content
    assert not Decision.objects.exists()


def test_a_viewer_cannot_decide_and_an_outsider_sees_nothing(client, viewer, outsider, change):
    client.force_login(viewer)
    assert client.post(f"/changes/{change.pk}/decide/", {"verdict": "approve"}).status_code == 403
    client.force_login(outsider)
    assert client.get(f"/changes/{change.pk}/").status_code == 404
    assert client.get(f"/changes/{change.pk}/status/").status_code == 404
    assert not Decision.objects.exists()
