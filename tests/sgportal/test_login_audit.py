"""Logins (and failed logins) of tenant members reach each of their tenants' audit chains."""

from __future__ import annotations

from sgportal.models import AuditAction, AuditEntry


def test_a_login_is_audited_in_the_users_tenants(client, approver, tenant, other_tenant):
    response = client.post(
        "/accounts/login/", {"login": "bob-approver", "password": "pw-Secret-123"}
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=AuditAction.LOGIN)
    assert entry.tenant == tenant and entry.actor_id == approver.pk and entry.via == "web"
    assert not AuditEntry.objects.filter(tenant=other_tenant).exists()


def test_a_failed_login_is_audited_without_logging_in(client, approver, tenant):
    response = client.post("/accounts/login/", {"login": "bob-approver", "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    entry = AuditEntry.objects.get(action=AuditAction.LOGIN_FAILED)
    assert entry.tenant == tenant and entry.object_repr == "bob-approver"


def test_the_portal_home_is_the_queue_of_the_users_own_tenants(
    client, approver, outsider, account, other_account
):
    from tests.approvals.factories import ChangeFactory

    ours = ChangeFactory(account=account, group_id="sg-0000000000000acme")
    ChangeFactory(account=other_account, group_id="sg-00000000000globex")
    assert client.get("/").status_code == 302
    client.force_login(approver)
    page = client.get("/").content
    assert f"/changes/{ours.pk}/".encode() in page
    assert b"sg-0000000000000acme" in page and b"sg-00000000000globex" not in page
