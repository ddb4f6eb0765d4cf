"""Issue 9, finding 1: a tenant admin grants memberships and never gains power over an account.

The attack: Acme's admin names Globex's admin (``outsider``) in the membership form, then
tries to change that person's password, email, username and flags, or re-points an existing
membership at them. Each attempt is refused and nothing about the person changes; every
password change that is allowed (a superuser, the person themselves) is audited.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from sgportal.models import AuditAction, AuditEntry, Membership
from sgportal.tenancy import Role
from tests.factories import UserFactory

User = get_user_model()
OLD_PASSWORD = "pw-Secret-123"  # tests.factories.UserFactory's


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def person_state(user) -> tuple:
    user.refresh_from_db()
    return (
        user.username,
        user.email,
        user.password,
        user.is_active,
        user.is_staff,
        user.is_superuser,
    )


def test_naming_another_tenants_admin_gives_no_power_over_their_account(
    admin_client, tenant, outsider
):
    before = person_state(outsider)
    admin_client.post(
        "/admin/sgportal/membership/add/",
        {"user": outsider.email, "tenant": tenant.pk, "role": Role.VIEWER},
    )
    urls = {
        "password": f"/admin/auth/user/{outsider.pk}/password/",
        "change": f"/admin/auth/user/{outsider.pk}/change/",
        "delete": f"/admin/auth/user/{outsider.pk}/delete/",
    }
    for url in urls.values():
        assert admin_client.get(url).status_code == 403
    posts = {
        "password": {"password1": "Pwned-by-acme-1", "password2": "Pwned-by-acme-1"},
        "change": {
            "username": "mallory-renamed",
            "email": "attacker@acme.example",
            "is_active": "",
            "is_staff": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
        "delete": {"post": "yes"},
    }
    for name, data in posts.items():
        assert admin_client.post(urls[name], data).status_code == 403
    assert person_state(outsider) == before
    assert outsider.check_password(OLD_PASSWORD)
    assert not outsider.check_password("Pwned-by-acme-1")


def test_a_tenant_admin_cannot_change_any_field_of_their_own_account_either(
    admin_client, admin_user
):
    before = person_state(admin_user)
    response = admin_client.post(
        f"/admin/auth/user/{admin_user.pk}/password/",
        {"password1": "Another-pass-123", "password2": "Another-pass-123"},
    )
    assert response.status_code == 403
    assert person_state(admin_user) == before


def test_an_existing_membership_cannot_be_repointed_at_another_person(
    admin_client, tenant, approver, outsider
):
    membership = Membership.objects.get(user=approver, tenant=tenant)
    response = admin_client.post(
        f"/admin/sgportal/membership/{membership.pk}/change/",
        {"user": outsider.username, "tenant": tenant.pk, "role": Role.ADMIN},
    )
    assert response.status_code == 302  # the role change itself is allowed ...
    membership.refresh_from_db()
    assert membership.user_id == approver.pk  # ... the person it is for is not
    assert membership.role == Role.ADMIN
    assert not Membership.objects.filter(user=outsider, tenant=tenant).exists()


def test_a_superusers_password_change_is_audited_in_the_persons_tenants(
    client, superuser, outsider, other_tenant, tenant
):
    client.force_login(superuser)
    response = client.post(
        f"/admin/auth/user/{outsider.pk}/password/",
        {
            "password1": "Reset-by-root-77",
            "password2": "Reset-by-root-77",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    outsider.refresh_from_db()
    assert outsider.check_password("Reset-by-root-77")
    entry = AuditEntry.objects.get(action=AuditAction.PASSWORD_CHANGE)
    assert entry.tenant_id == other_tenant.pk
    assert entry.object_id == str(outsider.pk) and entry.actor_id == superuser.pk
    assert not AuditEntry.objects.filter(tenant=tenant, action=AuditAction.PASSWORD_CHANGE).exists()


def test_a_persons_own_password_change_is_audited(client, tenant, approver):
    client.force_login(approver)
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": OLD_PASSWORD, "password1": "My-new-pass-99", "password2": "My-new-pass-99"},
    )
    assert response.status_code == 302, response.content[:2000]
    entry = AuditEntry.objects.get(tenant=tenant, action=AuditAction.PASSWORD_CHANGE)
    assert entry.actor_id == approver.pk and entry.object_repr == "bob-approver"


def test_a_password_set_outside_any_request_is_audited_as_system(tenant, viewer):
    viewer.set_password("From-a-shell-42")
    viewer.save()
    entry = AuditEntry.objects.get(tenant=tenant, action=AuditAction.PASSWORD_CHANGE)
    assert entry.actor_name == "system" and entry.actor_id is None


def test_saving_a_user_without_a_new_password_is_not_a_password_change(tenant, viewer):
    viewer.first_name = "Carol"
    viewer.save()
    fresh = UserFactory(username="fresh-user")  # creation is not a change
    fresh.save()
    assert not AuditEntry.objects.filter(action=AuditAction.PASSWORD_CHANGE).exists()


def test_a_superusers_edit_of_a_person_tells_their_tenants_only_what_changed(
    client, superuser, approver, tenant, other_tenant, outsider
):
    """The person's tenants see the edit (email, flags), not their whole account: no
    password hash, no last sign-in, nothing unchanged; another tenant sees nothing."""
    client.force_login(approver)  # sets last_login: it must not travel into the audit
    client.force_login(superuser)
    response = client.post(
        f"/admin/auth/user/{approver.pk}/change/",
        {
            "username": approver.username,
            "email": "new-address@acme.example",
            "first_name": approver.first_name,
            "last_name": approver.last_name,
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    entry = AuditEntry.objects.get(tenant=tenant, action=AuditAction.UPDATE)
    assert entry.after["email"] == "new-address@acme.example"
    assert entry.before["email"] == approver.email
    assert "password" not in entry.after and "last_login" not in entry.after
    assert "is_superuser" not in entry.after and "username" not in entry.after
    assert not AuditEntry.objects.filter(tenant=other_tenant).exists()
