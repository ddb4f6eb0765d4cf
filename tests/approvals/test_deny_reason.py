"""Tenant.deny_reason_required (issue 13/15): a deny without a reason is refused by the one
``decide()`` for every door (web, API, Slack) while the tenant's switch is on (the default);
policy decisions are not asked for one. The switch is edited in tenant admin, audited."""

from __future__ import annotations

import pytest

from approvals.actions import AlreadyDecided, ReasonRequired, decide
from approvals.models import Decision
from ingestion.models import ChangeStatus
from sgportal.models import AuditAction, AuditEntry, Tenant
from tests.admin_forms import changeform_data
from tests.api import assert_error, call, tokens_fixture  # noqa: F401
from tests.approvals.conftest import click, link
from tests.approvals.factories import ChangeFactory


def _nothing_decided(change) -> None:
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING
    assert not Decision.objects.filter(change=change).exists()
    assert not AuditEntry.objects.filter(action=AuditAction.DECIDE).exists()


def test_the_switch_is_on_by_default(tenant):
    assert Tenant.objects.get(pk=tenant.pk).deny_reason_required is True


@pytest.mark.parametrize("via", ["web", "api", "slack"])
@pytest.mark.parametrize("reason", ["", "   \n"])
def test_decide_refuses_a_deny_without_a_reason_at_every_door(change, approver, via, reason):
    with pytest.raises(ReasonRequired, match="a deny needs a reason"):
        decide(change, verdict="deny", actor=approver, via=via, reason=reason)
    _nothing_decided(change)
    refusal = AuditEntry.objects.get(action=AuditAction.DECISION_REFUSED)
    assert refusal.after["why"] == "deny without a reason" and refusal.via == via
    assert refusal.actor_id == approver.pk


def test_with_the_switch_off_a_deny_needs_no_reason(change, approver, reasonless_deny):
    decision = decide(change, verdict="deny", actor=approver, via="web")
    assert (decision.verdict, decision.reason) == ("deny", "")
    change.refresh_from_db()
    assert change.status == ChangeStatus.DENIED


def test_an_approve_and_a_policy_deny_need_no_reason(account, approver):
    approved, reverted = ChangeFactory(account=account), ChangeFactory(account=account)
    decide(approved, verdict="approve", actor=approver, via="web")
    decide(reverted, verdict="deny", actor="policy auto_revert (x)", via="policy")
    assert sorted(Decision.objects.values_list("verdict", flat=True)) == ["approve", "deny"]


def test_a_reasonless_deny_of_a_decided_change_is_told_who_was_first(change, approver):
    decide(change, verdict="approve", actor=approver, via="web")
    with pytest.raises(AlreadyDecided, match="already decided by bob-approver"):
        decide(change, verdict="deny", actor=approver, via="slack")


def test_the_switch_is_read_from_the_changes_own_tenant(change, account, other_account, approver):
    """Turning it off elsewhere changes nothing here."""
    Tenant.objects.filter(pk=other_account.tenant_id).update(deny_reason_required=False)
    with pytest.raises(ReasonRequired):
        decide(change, verdict="deny", actor=approver, via="web")


# --- web -------------------------------------------------------------------------------


def test_web_says_a_reason_is_required_and_records_nothing(client, change, approver):
    client.force_login(approver)
    page = client.get(f"/changes/{change.pk}/")
    assert b"Reason (required to deny)" in page.content and b"data-require-reason" in page.content
    response = client.post(f"/changes/{change.pk}/decide/", {"verdict": "deny"}, follow=True)
    assert b"Not recorded: a deny needs a reason in this tenant." in response.content
    _nothing_decided(change)
    client.post(f"/changes/{change.pk}/decide/", {"verdict": "deny", "reason": "world SSH"})
    assert Decision.objects.get(change=change).reason == "world SSH"


def test_web_deny_without_reason_when_the_switch_is_off(client, change, approver, reasonless_deny):
    client.force_login(approver)
    page = client.get(f"/changes/{change.pk}/")
    assert b"Reason (optional)" in page.content
    assert b"data-require-reason" not in page.content
    client.post(f"/changes/{change.pk}/decide/", {"verdict": "deny"})
    change.refresh_from_db()
    assert change.status == ChangeStatus.DENIED


def test_web_viewer_and_outsider_cannot_decide(client, change, viewer, outsider):
    for user, status in ((viewer, 403), (outsider, 404)):
        client.force_login(user)
        data = {"verdict": "deny", "reason": "x"}
        assert client.post(f"/changes/{change.pk}/decide/", data).status_code == status
    _nothing_decided(change)


# --- API -------------------------------------------------------------------------------


def test_api_answers_400_reason_required(client, tokens, change):
    url = f"/api/v1/changes/{change.pk}/decision/"
    response = call(client, "post", url, tokens.decide, {"verdict": "deny"})
    assert_error(response, 400, "reason_required")
    assert response.json()["error"]["message"] == "a deny needs a reason in this tenant"
    _nothing_decided(change)
    assert_error(call(client, "post", url, tokens.outsider, {"verdict": "deny"}), 404, "not_found")
    assert_error(
        call(client, "post", url, tokens.read, {"verdict": "deny", "reason": "x"}),
        403,
        "missing_scope",
    )
    _nothing_decided(change)
    ok = call(client, "post", url, tokens.decide, {"verdict": "deny", "reason": "world SSH"})
    assert ok.status_code == 201 and ok.json()["reason"] == "world SSH"


def test_api_deny_without_reason_when_the_switch_is_off(client, tokens, change, reasonless_deny):
    url = f"/api/v1/changes/{change.pk}/decision/"
    assert call(client, "post", url, tokens.decide, {"verdict": "deny"}).status_code == 201


# --- Slack -----------------------------------------------------------------------------


def test_a_slack_deny_click_asks_for_the_reason_in_a_modal(
    client, tenant, approver, message, slack, slack_tenant
):
    """The switch on: Deny opens the reason modal (tests/approvals/test_slack_deny_modal.py
    has the rest); nothing is recorded until it is submitted with a reason."""
    link(approver, tenant, "U0BOB0001")
    assert click(client, message.action_token, action="deny").json() == {"outcome": "modal"}
    assert len(slack.calls_to("views.open")) == 1
    _nothing_decided(message.change)
    assert not AuditEntry.objects.exists()
    # Approve still works from Slack.
    assert click(client, message.action_token, action="approve").json()["outcome"] == "decided"


def test_a_slack_deny_click_decides_when_the_switch_is_off(
    client, tenant, approver, message, reasonless_deny
):
    link(approver, tenant, "U0BOB0001")
    assert click(client, message.action_token, action="deny").json()["outcome"] == "decided"
    assert Decision.objects.get().verdict == "deny"


# --- admin -----------------------------------------------------------------------------


def test_a_tenant_admin_switches_it_off_in_admin_audited(client, tenant, admin_user):
    client.force_login(admin_user)
    url = f"/admin/sgportal/tenant/{tenant.pk}/change/"
    page = client.get(url)
    assert "deny_reason_required" in page.context["adminform"].form.fields
    data = changeform_data(page)
    data.pop("slug", None), data.pop("active", None)
    data.pop("deny_reason_required", None)  # an unticked box is absent from the POST
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    tenant.refresh_from_db()
    assert tenant.deny_reason_required is False
    entry = AuditEntry.objects.get(tenant=tenant, object_type="sgportal.Tenant")
    assert entry.before["deny_reason_required"] is True
    assert entry.after["deny_reason_required"] is False
    assert entry.actor_id == admin_user.pk


def test_an_outsider_cannot_see_or_switch_it(client, tenant, outsider, viewer):
    url = f"/admin/sgportal/tenant/{tenant.pk}/change/"
    for user in (outsider, viewer):
        client.force_login(user)
        page = client.get(url)
        assert page.status_code in (302, 403, 404)
        client.post(url, {"name": tenant.name})
    tenant.refresh_from_db()
    assert tenant.deny_reason_required is True
    assert not AuditEntry.objects.filter(object_type="sgportal.Tenant").exists()
