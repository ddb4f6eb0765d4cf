"""Single sign-on with OpenID Connect against a real provider (pyop, over HTTPS on loopback):
first login, verified email, group mappings re-applied at each login, and the refusals."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.test import Client

from sgportal.memberships import grant_membership
from sgportal.models import AuditAction, AuditEntry, IdpGroupMapping, Membership, MembershipSource
from sgportal.tenancy import Role
from tests.factories import MembershipFactory, UserFactory
from tests.sgportal.sso_idps import OidcProvider, oidc_sign_in

User = get_user_model()


@pytest.fixture
def idp(settings, tmp_path, monkeypatch):
    provider = OidcProvider(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(provider.ca_bundle))
    settings.SOCIALACCOUNT_PROVIDERS = provider.app_settings()
    yield provider
    provider.close()


def signed_in(client):
    return client.get("/").wsgi_request.user


def sign_in(idp, user_id, **claims):
    """A fresh browser signing in as ``user_id`` with the IdP's current ``claims``."""
    idp.add_user(user_id, **claims)
    idp.sign_in_as(user_id)
    browser = Client()
    response, _ = oidc_sign_in(browser, idp)
    return browser, response


def test_it_creates_a_person_without_tenant_access_on_first_login(client, idp, tenant):
    idp.add_user("dana", email="dana@acme.example", email_verified=True, groups=[])
    idp.sign_in_as("dana")
    response, _ = oidc_sign_in(client, idp)
    assert response.status_code == 302
    user = signed_in(client)
    assert user.is_authenticated and user.email == "dana@acme.example"
    assert SocialAccount.objects.filter(user=user, provider="sso", uid="sub-dana").exists()
    assert EmailAddress.objects.filter(user=user, email="dana@acme.example", verified=True)
    assert not Membership.objects.filter(user=user).exists()
    assert not AuditEntry.objects.filter(tenant=tenant).exists()


def test_a_pending_grant_binds_through_the_providers_verified_email(idp, tenant, admin_user):
    grant_membership(tenant=tenant, email="erin@acme.example", role=Role.APPROVER, actor="t")
    browser, _ = sign_in(idp, "erin", email="erin@acme.example", email_verified=True)
    user = signed_in(browser)
    membership = Membership.objects.get(tenant=tenant, user=user)
    assert (membership.role, membership.source) == (Role.APPROVER, MembershipSource.GRANT)


def test_an_unverified_email_binds_no_grant_and_links_no_account(idp, tenant, viewer):
    EmailAddress.objects.create(user=viewer, email="carol@acme.example", verified=True)
    grant_membership(tenant=tenant, email="carol@acme.example", role=Role.ADMIN, actor="t")
    browser, _ = sign_in(idp, "fake-carol", email="carol@acme.example", email_verified=False)
    assert not SocialAccount.objects.filter(user=viewer).exists()
    user = signed_in(browser)
    assert user != viewer
    if user.is_authenticated:  # a new person, with nothing
        assert not Membership.objects.filter(user=user).exists()
    assert Membership.objects.get(user=viewer, tenant=tenant).role == Role.VIEWER
    assert Membership.objects.filter(tenant=tenant, user__isnull=True, role=Role.ADMIN).exists()


def test_a_verified_email_links_the_existing_account(idp, viewer):
    EmailAddress.objects.create(user=viewer, email="carol@acme.example", verified=True)
    browser, _ = sign_in(idp, "carol", email="carol@acme.example", email_verified=True)
    assert signed_in(browser) == viewer
    assert SocialAccount.objects.filter(user=viewer, uid="sub-carol").exists()


def test_group_mapping_grants_then_follows_the_group_and_is_audited(idp, tenant, other_tenant):
    IdpGroupMapping.objects.create(tenant=tenant, group="acme-reviewers", role=Role.APPROVER)
    IdpGroupMapping.objects.create(tenant=tenant, group="acme-sec-admins", role=Role.ADMIN)
    IdpGroupMapping.objects.create(tenant=other_tenant, group="globex-viewers", role=Role.VIEWER)
    claims = {"email": "gus@acme.example", "email_verified": True}

    browser, _ = sign_in(idp, "gus", groups=["acme-reviewers", "unmapped"], **claims)
    gus = signed_in(browser)
    membership = Membership.objects.get(user=gus, tenant=tenant)
    assert (membership.role, membership.source) == (Role.APPROVER, MembershipSource.IDP_GROUP)
    assert not Membership.objects.filter(user=gus, tenant=other_tenant).exists()
    created = AuditEntry.objects.get(tenant=tenant, action="create", via="sso")
    assert created.after["role"] == Role.APPROVER
    assert created.after["idp_groups"] == ["acme-reviewers"]

    # Promoted in the IdP: the highest mapped role wins, at the next login.
    sign_in(idp, "gus", groups=["acme-reviewers", "acme-sec-admins"], **claims)
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    updated = AuditEntry.objects.get(tenant=tenant, action="update", via="sso")
    assert (updated.before["role"], updated.after["role"]) == (Role.APPROVER, Role.ADMIN)

    # Removed from every mapped group: the role goes at the next login.
    browser, _ = sign_in(idp, "gus", groups=["unmapped"], **claims)
    assert not Membership.objects.filter(user=gus).exists()
    assert AuditEntry.objects.filter(tenant=tenant, action="delete", via="sso").count() == 1
    assert signed_in(browser) == gus  # still signs in, with no tenant


def test_group_mappings_never_touch_a_membership_granted_by_hand(idp, tenant, other_tenant):
    person = UserFactory(username="hana")
    EmailAddress.objects.create(user=person, email="hana@acme.example", verified=True)
    MembershipFactory(user=person, tenant=tenant, role=Role.VIEWER)
    IdpGroupMapping.objects.create(tenant=tenant, group="acme-sec-admins", role=Role.ADMIN)
    claims = {"email": "hana@acme.example", "email_verified": True}

    sign_in(idp, "hana", groups=["acme-sec-admins"], **claims)
    sign_in(idp, "hana", groups=[], **claims)
    membership = Membership.objects.get(user=person, tenant=tenant)
    assert (membership.role, membership.source) == (Role.VIEWER, MembershipSource.GRANT)
    assert not AuditEntry.objects.filter(via="sso").exists()


def test_a_grant_replaces_a_group_role_so_it_survives_leaving_the_group(idp, tenant):
    IdpGroupMapping.objects.create(tenant=tenant, group="acme-reviewers", role=Role.VIEWER)
    claims = {"email": "ivy@acme.example", "email_verified": True}
    sign_in(idp, "ivy", groups=["acme-reviewers"], **claims)
    grant_membership(tenant=tenant, email="ivy@acme.example", role=Role.APPROVER, actor="t")
    sign_in(idp, "ivy", groups=[], **claims)
    membership = Membership.objects.get(tenant=tenant, user__username__startswith="ivy")
    assert (membership.role, membership.source) == (Role.APPROVER, MembershipSource.GRANT)
    replaced = AuditEntry.objects.get(tenant=tenant, object_repr__endswith="replaced by a grant")
    assert (replaced.action, replaced.before["role"]) == (AuditAction.DELETE, Role.VIEWER)


@pytest.mark.parametrize("misbehaviour", ["audience", "issuer"])
def test_an_id_token_for_another_audience_or_from_another_issuer_is_refused(
    client, idp, tenant, misbehaviour
):
    IdpGroupMapping.objects.create(tenant=tenant, group="acme-reviewers", role=Role.ADMIN)
    if misbehaviour == "audience":
        idp.audience = "other-app"
    else:
        idp.issuer_override = "https://evil.example"
    idp.add_user("mal", email="mal@acme.example", email_verified=True, groups=["acme-reviewers"])
    idp.sign_in_as("mal")
    response, _ = oidc_sign_in(client, idp)
    assert response.status_code == 401  # allauth's "authentication error" page
    assert not signed_in(client).is_authenticated
    assert not User.objects.filter(email="mal@acme.example").exists()
    assert not SocialAccount.objects.exists()
    assert not Membership.objects.filter(tenant=tenant).exists()


def test_a_replayed_callback_is_refused(client, idp, db):
    idp.add_user("jo", email="jo@acme.example", email_verified=True)
    idp.sign_in_as("jo")
    _, callback = oidc_sign_in(client, idp)
    assert signed_in(client).is_authenticated
    thief = Client()
    response = thief.get(callback)  # the same code and state, in another browser
    assert not signed_in(thief).is_authenticated
    client.post("/accounts/logout/")
    again = client.get(callback)  # and in the same browser, once used
    assert (response.status_code, again.status_code) == (401, 401)
    assert not signed_in(client).is_authenticated
    assert SocialAccount.objects.count() == 1
