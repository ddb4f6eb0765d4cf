"""Single sign-on with SAML 2.0 against a real IdP (pysaml2's, signing with xmlsec1): first
login, group mappings, and the refusals (another audience, another IdP, a replay)."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model

from sgportal.models import AuditEntry, IdpGroupMapping, Membership, MembershipSource
from sgportal.tenancy import Role
from tests.sgportal.sso_idps import SamlIdp, saml_app_settings, saml_post, saml_start
from tests.sgportal.sso_idps import browser as new_browser

User = get_user_model()


@pytest.fixture
def idp(settings, tmp_path, db):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "portal.acme.test"]
    provider = SamlIdp(tmp_path)
    settings.SOCIALACCOUNT_PROVIDERS = saml_app_settings(provider)
    provider.trust_sp(new_browser().get("/accounts/saml/sso/metadata/").content.decode())
    return provider


def signed_in(client):
    return client.get("/").wsgi_request.user


def sign_in(idp, user_id, **attributes):
    idp.add_user(user_id, **attributes)
    browser = new_browser()
    request, relay = saml_start(browser)
    response = saml_post(browser, idp.respond(request, user_id), relay)
    return browser, response


def test_it_creates_a_person_and_applies_then_removes_the_group_role(idp, tenant):
    IdpGroupMapping.objects.create(tenant=tenant, group="acme-reviewers", role=Role.APPROVER)
    attributes = {"email": "kim@acme.example", "email_verified": "true", "uid": "kim"}

    browser, response = sign_in(idp, "kim", groups=["acme-reviewers"], **attributes)
    assert response.status_code == 302, response
    assert response["Location"] == "/", response["Location"]
    kim = signed_in(browser)
    assert kim.is_authenticated
    assert SocialAccount.objects.filter(user=kim, provider="saml", uid="kim").exists()
    assert EmailAddress.objects.filter(user=kim, email="kim@acme.example", verified=True)
    membership = Membership.objects.get(user=kim, tenant=tenant)
    assert (membership.role, membership.source) == (Role.APPROVER, MembershipSource.IDP_GROUP)
    assert AuditEntry.objects.filter(tenant=tenant, action="create", via="sso").count() == 1

    sign_in(idp, "kim", groups=["someone-else"], **attributes)
    assert not Membership.objects.filter(user=kim).exists()
    assert AuditEntry.objects.filter(tenant=tenant, action="delete", via="sso").count() == 1


def test_a_saml_email_counts_as_verified_only_when_the_idp_says_so(idp, tenant, viewer):
    EmailAddress.objects.create(user=viewer, email="carol@acme.example", verified=True)
    browser, _ = sign_in(idp, "not-carol", email="carol@acme.example", uid="not-carol")
    assert not SocialAccount.objects.filter(user=viewer).exists()
    assert signed_in(browser) != viewer
    assert not EmailAddress.objects.filter(email="carol@acme.example", verified=True).exclude(
        user=viewer
    )


def test_an_operator_may_vouch_for_the_idps_addresses(settings, idp, viewer):
    settings.SOCIALACCOUNT_PROVIDERS = saml_app_settings(idp, emails_verified=True)
    EmailAddress.objects.create(user=viewer, email="carol@acme.example", verified=True)
    browser, _ = sign_in(idp, "carol", email="carol@acme.example", uid="carol")
    assert signed_in(browser) == viewer


def test_an_assertion_for_another_service_provider_is_refused(idp, tenant):
    IdpGroupMapping.objects.create(tenant=tenant, group="acme-reviewers", role=Role.ADMIN)
    metadata = new_browser().get("/accounts/saml/sso/metadata/").content.decode()
    idp.trust_sp(metadata, also_as="https://other-sp.example/")
    idp.add_user("mal", email="mal@acme.example", uid="mal", groups=["acme-reviewers"])
    browser = new_browser()
    request, relay = saml_start(browser)
    response = saml_post(
        browser, idp.respond(request, "mal", audience="https://other-sp.example/"), relay
    )
    assert response.status_code == 401
    assert not signed_in(browser).is_authenticated
    assert not User.objects.filter(email="mal@acme.example").exists()
    assert not Membership.objects.filter(tenant=tenant).exists()


@pytest.mark.parametrize("claims_to_be", ["another issuer", "our issuer, another key"])
def test_an_assertion_from_another_idp_is_refused(idp, tmp_path, tenant, claims_to_be):
    (tmp_path / "rogue").mkdir()
    entity = idp.entity_id if claims_to_be.startswith("our") else "https://rogue.example/saml"
    rogue = SamlIdp(tmp_path / "rogue", entity_id=entity)
    rogue.sso_url = idp.sso_url  # the AuthnRequest sgportal sends names our IdP's endpoint
    rogue.trust_sp(new_browser().get("/accounts/saml/sso/metadata/").content.decode())
    IdpGroupMapping.objects.create(tenant=tenant, group="acme-reviewers", role=Role.ADMIN)
    rogue.add_user("mal", email="mal@acme.example", uid="mal", groups=["acme-reviewers"])
    browser = new_browser()
    request, relay = saml_start(browser)
    response = saml_post(browser, rogue.respond(request, "mal"), relay)
    assert response.status_code == 401
    assert not signed_in(browser).is_authenticated
    assert not SocialAccount.objects.exists()
    assert not Membership.objects.filter(tenant=tenant).exists()


def test_a_replayed_assertion_is_refused(idp, tenant):
    idp.add_user("lee", email="lee@acme.example", uid="lee")
    browser = new_browser()
    request, relay = saml_start(browser)
    saml_response = idp.respond(request, "lee")
    assert saml_post(browser, saml_response, relay).status_code == 302
    lee = signed_in(browser)
    assert lee.is_authenticated
    logins = AuditEntry.objects.count()

    thief = new_browser()  # the captured POST, in another browser
    assert saml_post(thief, saml_response, relay).status_code in (401, 403)
    assert not signed_in(thief).is_authenticated
    browser.post("/accounts/logout/")  # and again in the same browser
    assert saml_post(browser, saml_response, relay).status_code in (401, 403)
    assert not signed_in(browser).is_authenticated
    assert AuditEntry.objects.count() == logins
    assert SocialAccount.objects.count() == 1
