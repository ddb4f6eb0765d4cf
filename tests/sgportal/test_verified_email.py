"""An email address counts for nothing until it is verified: adding someone else's address
at /accounts/email/ gives no claim on memberships, SSO logins or their login limit."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

from sgportal.auth import users_with_verified_email


def test_an_address_added_at_accounts_email_is_unverified_and_counts_for_nothing(
    client, viewer, outsider, mailoutbox
):
    client.force_login(viewer)
    response = client.post("/accounts/email/", {"action_add": "", "email": outsider.email})
    assert response.status_code in (200, 302)
    assert not EmailAddress.objects.filter(user=viewer, email=outsider.email, verified=True)
    assert list(users_with_verified_email(outsider.email)) == []


def test_an_unverified_address_cannot_be_made_primary(client, viewer, outsider):
    EmailAddress.objects.create(user=viewer, email=outsider.email, verified=False)
    client.force_login(viewer)
    response = client.post("/accounts/email/", {"action_primary": "", "email": outsider.email})
    assert response.status_code in (200, 302)
    viewer.refresh_from_db()
    assert viewer.email == "carol-viewer@example.com"
    assert not EmailAddress.objects.filter(user=viewer, primary=True).exists()


def test_a_verified_address_can_be_made_primary(client, viewer):
    EmailAddress.objects.create(user=viewer, email="carol@new.example", verified=True)
    client.force_login(viewer)
    client.post("/accounts/email/", {"action_primary": "", "email": "carol@new.example"})
    viewer.refresh_from_db()
    assert viewer.email == "carol@new.example"


def test_only_verified_addresses_find_users(viewer, outsider):
    EmailAddress.objects.create(user=viewer, email="Shared@Example.com", verified=False)
    assert list(users_with_verified_email("shared@example.com")) == []
    # User.email alone (anyone can type one) does not count either.
    assert list(users_with_verified_email(outsider.email)) == []
    EmailAddress.objects.create(user=outsider, email="shared@example.com", verified=True)
    assert list(users_with_verified_email(" SHARED@example.com ")) == [outsider]
    assert list(users_with_verified_email("")) == []


def test_sso_ties_a_first_login_to_the_verified_address_only(rf, viewer, outsider):
    from allauth.socialaccount.models import SocialAccount, SocialLogin

    from sgportal.auth import SsoSocialAccountAdapter

    EmailAddress.objects.create(user=viewer, email="boss@globex.example", verified=False)
    EmailAddress.objects.create(user=outsider, email="boss@globex.example", verified=True)

    def sso_login(verified: bool) -> SocialLogin:
        login = SocialLogin(
            user=get_user_model()(),
            account=SocialAccount(provider="openid_connect", uid="idp-boss"),
            email_addresses=[
                EmailAddress(email="boss@globex.example", verified=verified, primary=True)
            ],
        )
        login.connect = lambda request, user: setattr(login, "connected_to", user)
        return login

    request = rf.get("/")
    unverified_claim = sso_login(verified=False)
    SsoSocialAccountAdapter(request).pre_social_login(request, unverified_claim)
    assert not hasattr(unverified_claim, "connected_to")
    verified_claim = sso_login(verified=True)
    SsoSocialAccountAdapter(request).pre_social_login(request, verified_claim)
    assert verified_claim.connected_to == outsider  # never the viewer's unverified copy
