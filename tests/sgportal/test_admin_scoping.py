"""Django admin is tenant-scoped: a tenant admin sees and edits only their own tenant."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from sgportal.models import AuditAction, AuditEntry, AwsAccount, Membership, SlackIdentity
from sgportal.tenancy import Role
from tests.admin_forms import changeform_data
from tests.factories import SlackIdentityFactory, UserFactory

User = get_user_model()


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def superuser_form(user) -> dict:
    """The user change form, posted asking to make ``user`` a superuser."""
    return {
        "username": user.username,
        "email": user.email,
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }


def account_form(account, **overrides):
    data = {
        "tenant": account.tenant_id,
        "account_id": account.account_id,
        "name": account.name,
        "spoke_role_arn": account.spoke_role_arn,
        "regions": '["us-east-1"]',
        "active": "on",
    }
    data.update(overrides)
    return data


def test_it_lists_only_the_admins_tenant(admin_client, account, other_account):
    response = admin_client.get("/admin/sgportal/awsaccount/")
    assert response.status_code == 200
    assert b"prod-payments" in response.content
    assert b"globex-prod" not in response.content


def test_the_outsider_cannot_open_or_edit_our_account(client, outsider, account):
    client.force_login(outsider)
    response = client.get(f"/admin/sgportal/awsaccount/{account.pk}/change/")
    assert response.status_code == 302  # "doesn't exist" redirect, same as a missing id
    assert b"prod-payments" not in response.content
    response = client.post(
        f"/admin/sgportal/awsaccount/{account.pk}/change/", account_form(account, name="pwned")
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "prod-payments"
    response = client.post(f"/admin/sgportal/awsaccount/{account.pk}/delete/", {"post": "yes"})
    assert AwsAccount.objects.filter(pk=account.pk).exists()


def test_it_edits_an_account_and_audits_before_and_after(admin_client, admin_user, account):
    response = admin_client.post(
        f"/admin/sgportal/awsaccount/{account.pk}/change/",
        account_form(account, name="prod-payments-eu"),
    )
    assert response.status_code == 302, response.content
    account.refresh_from_db()
    assert account.name == "prod-payments-eu"
    entry = AuditEntry.objects.get(
        tenant=account.tenant, action=AuditAction.UPDATE, object_type="sgportal.AwsAccount"
    )
    assert entry.before["name"] == "prod-payments"
    assert entry.after["name"] == "prod-payments-eu"
    assert entry.actor_id == admin_user.pk and entry.via == "admin"


def test_it_cannot_move_an_account_to_another_tenant(admin_client, account, other_tenant):
    response = admin_client.post(
        f"/admin/sgportal/awsaccount/{account.pk}/change/",
        account_form(account, tenant=other_tenant.pk),
    )
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    account.refresh_from_db()
    assert account.tenant.slug == "acme"


def test_it_validates_account_ids_and_role_arns(admin_client, tenant):
    response = admin_client.post(
        "/admin/sgportal/awsaccount/add/",
        {
            "tenant": tenant.pk,
            "account_id": "12345",
            "name": "bad",
            "spoke_role_arn": "arn:aws:iam::999999999999:user/not-a-role",
            "regions": "[]",
        },
    )
    assert response.status_code == 200
    assert b"exactly 12 digits" in response.content
    assert b"Expected an IAM role ARN" in response.content
    assert not AwsAccount.objects.filter(name="bad").exists()


def test_it_cannot_grant_a_membership_in_another_tenant(admin_client, other_tenant):
    response = admin_client.post(
        "/admin/sgportal/membership/add/",
        {"email": "newcomer@example.com", "tenant": other_tenant.pk, "role": Role.ADMIN},
    )
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert not Membership.objects.filter(granted_email="newcomer@example.com").exists()


def test_it_grants_a_membership_in_its_own_tenant_and_audits_it(admin_client, tenant):
    response = admin_client.post(
        "/admin/sgportal/membership/add/",
        {"email": "NewComer@Example.COM", "tenant": tenant.pk, "role": Role.APPROVER},
    )
    assert response.status_code == 302
    granted = Membership.objects.get(tenant=tenant, granted_email="NewComer@Example.COM")
    assert granted.role == Role.APPROVER and granted.user is None  # binds at sign-in
    entry = AuditEntry.objects.get(
        tenant=tenant, action=AuditAction.CREATE, object_type="sgportal.Membership"
    )
    assert entry.after["role"] == "approver" and entry.before is None


def test_it_cannot_browse_users_of_other_tenants_or_of_none(admin_client, outsider, approver):
    loner = UserFactory(username="loner-in-no-tenant")
    content = admin_client.get("/admin/sgportal/membership/add/").content
    assert b"mallory-outsider" not in content and b"loner-in-no-tenant" not in content
    assert admin_client.get("/admin/auth/user/").status_code == 403  # users: superusers only
    assert admin_client.get(f"/admin/auth/user/{loner.pk}/change/").status_code == 403


def test_a_membership_form_shows_its_user_by_name(admin_client, approver):
    membership = Membership.objects.get(user=approver)
    page = admin_client.get(f"/admin/sgportal/membership/{membership.pk}/change/").content
    assert b'<div class="readonly">bob-approver</div>' in page  # fixed once granted


def test_only_a_superuser_adds_users(admin_client, client, superuser):
    assert admin_client.get("/admin/auth/user/add/").status_code == 403
    client.force_login(superuser)
    assert client.get("/admin/auth/user/add/").status_code == 200


def test_it_cannot_make_itself_superuser(admin_client, admin_user):
    response = admin_client.post(
        f"/admin/auth/user/{admin_user.pk}/change/", superuser_form(admin_user)
    )
    assert response.status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.is_superuser is False


def test_it_cannot_see_or_edit_users_of_other_tenants(admin_client, outsider):
    assert b"mallory-outsider" not in admin_client.get("/admin/auth/user/").content
    response = admin_client.get(f"/admin/auth/user/{outsider.pk}/change/")
    assert response.status_code == 403


def test_it_scopes_slack_identities(admin_client, tenant, other_tenant, outsider):
    ours = SlackIdentityFactory(tenant=tenant, slack_user_id="UOURS0001")
    theirs = SlackIdentityFactory(tenant=other_tenant, slack_user_id="UTHEIRS01", user=outsider)
    page = admin_client.get("/admin/sgportal/slackidentity/").content
    assert b"UOURS0001" in page and b"UTHEIRS01" not in page
    assert admin_client.get(f"/admin/sgportal/slackidentity/{theirs.pk}/change/").status_code == 302
    response = admin_client.post(
        f"/admin/sgportal/slackidentity/{theirs.pk}/delete/", {"post": "yes"}
    )
    assert SlackIdentity.objects.filter(pk=theirs.pk).exists()
    ours.refresh_from_db()
    assert ours.tenant_id == tenant.pk
    assert response.status_code in (302, 403)


def test_it_edits_only_its_own_tenant_settings(admin_client, tenant, other_tenant):
    assert admin_client.get(f"/admin/sgportal/tenant/{tenant.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/sgportal/tenant/{other_tenant.pk}/change/").status_code == 302
    assert admin_client.get("/admin/sgportal/tenant/add/").status_code == 403


@pytest.mark.parametrize("fixture", ["approver", "viewer"])
def test_non_admins_are_kept_out_of_admin(client, request, fixture, account):
    user = request.getfixturevalue(fixture)
    user.is_staff = True  # even a staff flag is not enough without the admin role
    user.save()
    client.force_login(user)
    assert client.get("/admin/sgportal/awsaccount/").status_code == 403
    assert client.get(f"/admin/sgportal/awsaccount/{account.pk}/change/").status_code == 403


def test_the_audit_log_is_read_only_and_scoped(admin_client, tenant, other_tenant):
    from sgportal.audit import record_audit

    ours = record_audit(
        tenant, AuditAction.UPDATE, actor="x", object_type="t", object_repr="ours-entry"
    )
    record_audit(
        other_tenant, AuditAction.UPDATE, actor="x", object_type="t", object_repr="theirs-entry"
    )
    page = admin_client.get("/admin/sgportal/auditentry/").content
    assert b"ours-entry" in page and b"theirs-entry" not in page
    response = admin_client.post(f"/admin/sgportal/auditentry/{ours.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AuditEntry.objects.filter(pk=ours.pk).exists()


def test_a_superuser_sees_every_tenant(client, superuser, account, other_account):
    client.force_login(superuser)
    page = client.get("/admin/sgportal/awsaccount/").content
    assert b"prod-payments" in page and b"globex-prod" in page


def test_the_same_form_lets_a_superuser_grant_superuser(client, superuser, admin_user):
    """Proves the refusal above comes from scoping, not from a form that never saves."""
    client.force_login(superuser)
    response = client.post(f"/admin/auth/user/{admin_user.pk}/change/", superuser_form(admin_user))
    assert response.status_code == 302, response.content[:2000]
    admin_user.refresh_from_db()
    assert admin_user.is_superuser is True


def tenant_form(admin_client, tenant) -> dict:
    """The tenant change form's current values, as a tenant admin would post them back."""
    page = admin_client.get(f"/admin/sgportal/tenant/{tenant.pk}/change/")
    data = changeform_data(page)
    for read_only in ("slug", "active"):  # not editable by a tenant admin
        data.pop(read_only, None)
    return data


def test_tenant_settings_changes_are_audited_with_secrets_masked(admin_client, tenant, slack):
    data = tenant_form(admin_client, tenant)
    data.update(
        {
            "name": "Acme Corporation",
            "slack_workspace-0-bot_token": "xoxb-TACME0001-very-secret",
            "default_policy": "review",
            "decision_timeout_minutes": 60,
        }
    )
    response = admin_client.post(f"/admin/sgportal/tenant/{tenant.pk}/change/", data)
    assert response.status_code == 302, response.content[:3000]
    tenant.refresh_from_db()
    assert tenant.name == "Acme Corporation"
    assert tenant.slack_workspace.bot_token == "xoxb-TACME0001-very-secret"
    entry = AuditEntry.objects.get(tenant=tenant, object_type="sgportal.Tenant")
    assert (entry.before["name"], entry.after["name"]) == ("Acme Corp", "Acme Corporation")
    slack = AuditEntry.objects.get(tenant=tenant, object_type="approvals.SlackWorkspace")
    assert slack.after["bot_token"] == "********"
    assert "very-secret" not in str(entry.before) + str(entry.after)
    assert "very-secret" not in str(slack.before) + str(slack.after)


def test_secrets_are_encrypted_at_rest(tenant):
    from django.db import connection

    tenant.slack_workspace.bot_token = "xoxb-stored-secret"
    tenant.slack_workspace.save()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bot_token FROM approvals_slackworkspace WHERE tenant_id = %s", [tenant.pk]
        )
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and "xoxb" not in stored
    tenant.refresh_from_db()
    assert tenant.slack_workspace.bot_token == "xoxb-stored-secret"


def test_saving_slack_settings_clears_a_broken_slack(admin_client, tenant, slack):
    workspace = tenant.slack_workspace
    workspace.bot_token = "xoxb-old"
    workspace.status = "broken"
    workspace.error = "invalid_auth"
    workspace.save()
    data = tenant_form(admin_client, tenant)
    data.update({"slack_workspace-0-bot_token": "xoxb-TACME0001-new", "default_policy": "review"})
    assert admin_client.post(f"/admin/sgportal/tenant/{tenant.pk}/change/", data).status_code == 302
    tenant.refresh_from_db()
    assert (tenant.slack_workspace.status, tenant.slack_workspace.error) == ("ok", "")


def test_two_tenants_cannot_share_a_slack_workspace(admin_client, tenant, other_tenant, slack):
    data = tenant_form(admin_client, tenant)
    data.update(
        {"slack_workspace-0-bot_token": "xoxb-TGLOBEX01-stolen", "default_policy": "review"}
    )
    response = admin_client.post(f"/admin/sgportal/tenant/{tenant.pk}/change/", data)
    assert response.status_code == 200
    assert b"connected to another sgportal tenant" in response.content
    tenant.refresh_from_db()
    workspace = tenant.slack_workspace
    assert (workspace.team_id, workspace.bot_token) == ("TACME0001", "")
