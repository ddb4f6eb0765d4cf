"""The demo's OpenID Connect provider (devtools.oidc_provider) signs people in to sgportal
through allauth's real flow, and its groups become roles through the tenant's mappings."""

from __future__ import annotations

import html
import re

import pytest
import requests

from devtools.oidc_provider import CLIENT_ID, CLIENT_SECRET, DemoOidcProvider
from sgportal.models import IdpGroupMapping, Membership, MembershipSource
from sgportal.sso_config import oidc_app
from sgportal.tenancy import Role

CALLBACK = "http://testserver/accounts/oidc/sso/login/callback/"


@pytest.fixture
def provider(settings):
    with DemoOidcProvider([CALLBACK]) as idp:
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "APPS": [
                    oidc_app(
                        issuer=idp.issuer,
                        client_id=CLIENT_ID,
                        secret=CLIENT_SECRET,
                        name="Demo SSO",
                        scopes=["openid", "profile", "email", "groups"],
                    )
                ]
            }
        }
        yield idp


def _choose(client, idp, user: str) -> requests.Response:
    """sgportal -> the provider's sign-in page -> the person chosen: the provider's answer."""
    start = client.post("/accounts/oidc/sso/login/")
    assert start.status_code == 302 and start["Location"].startswith(f"{idp.issuer}/authorize?")
    page = requests.get(start["Location"], timeout=10)
    assert page.status_code == 200 and "Sign in as Dana Okafor" in page.text
    query = html.unescape(re.search(r'name="query" value="([^"]*)"', page.text).group(1))
    return requests.post(
        f"{idp.issuer}/authorize",
        data={"query": query, "user": user},
        allow_redirects=False,
        timeout=10,
    )


def test_dana_signs_in_and_her_group_makes_her_an_approver(
    client, provider, tenant, other_tenant, outsider
):
    IdpGroupMapping.objects.create(tenant=tenant, group="sg-approvers", role=Role.APPROVER)
    IdpGroupMapping.objects.create(tenant=other_tenant, group="globex-admins", role=Role.ADMIN)
    answer = _choose(client, provider, "dana")
    assert answer.status_code == 302 and answer.headers["Location"].startswith(CALLBACK)
    response = client.get(answer.headers["Location"].removeprefix("http://testserver"))
    assert response.status_code == 302
    user = client.get("/").wsgi_request.user
    assert user.is_authenticated and user.email == "dana@demo.example"
    membership = Membership.objects.get(user=user)
    assert (membership.tenant, membership.role, membership.source) == (
        tenant,
        Role.APPROVER,
        MembershipSource.IDP_GROUP,
    )
    # Nothing in the outsider's tenant: her groups are not mapped there.
    assert not Membership.objects.filter(user=user, tenant=other_tenant).exists()


def test_the_provider_refuses_unknown_people_and_redirects(db, provider, client):
    answer = _choose(client, provider, "mallory")
    assert answer.status_code == 400 and answer.json()["error"] == "unknown_user"
    forged = requests.get(
        f"{provider.issuer}/authorize",
        params={
            "client_id": CLIENT_ID,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": "https://evil.example/callback",
            "state": "x",
        },
        timeout=10,
    )
    assert forged.status_code == 400 and "Sign in as" not in forged.text
    assert not client.get("/").wsgi_request.user.is_authenticated
