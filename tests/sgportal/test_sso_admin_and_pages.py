"""The group-mapping admin (tenant-scoped, audited) and the branded sign-in page."""

from __future__ import annotations

import datetime as dt

from django.template import Context, Template

from sgportal.models import AuditEntry, IdpGroupMapping
from sgportal.sso_config import oidc_app
from sgportal.tenancy import Role

ADD = "/admin/sgportal/idpgroupmapping/add/"


def test_a_tenant_admin_maps_a_group_in_their_tenant_audited(client, admin_user, tenant):
    client.force_login(admin_user)
    response = client.post(ADD, {"tenant": tenant.pk, "group": "acme-reviewers", "role": "admin"})
    assert response.status_code == 302
    mapping = IdpGroupMapping.objects.get(tenant=tenant, group="acme-reviewers")
    assert mapping.role == Role.ADMIN
    entry = AuditEntry.objects.get(tenant=tenant, object_type="sgportal.IdpGroupMapping")
    assert entry.action == "create" and entry.after["group"] == "acme-reviewers"


def test_a_tenant_admin_cannot_map_a_group_into_another_tenant(
    client, admin_user, tenant, other_tenant
):
    client.force_login(admin_user)
    response = client.post(
        ADD, {"tenant": other_tenant.pk, "group": "globex-admins", "role": "admin"}
    )
    assert response.status_code == 200  # the form again, with an error
    assert not IdpGroupMapping.objects.exists()
    assert not AuditEntry.objects.filter(tenant=other_tenant).exists()


def test_no_role_above_admin_can_be_mapped(client, admin_user, tenant):
    client.force_login(admin_user)
    for role in ("superuser", "owner", ""):
        response = client.post(ADD, {"tenant": tenant.pk, "group": "g", "role": role})
        assert response.status_code == 200
    assert not IdpGroupMapping.objects.exists()


def test_an_outsider_neither_sees_nor_changes_a_mapping(client, outsider, tenant):
    mapping = IdpGroupMapping.objects.create(tenant=tenant, group="acme-reviewers")
    client.force_login(outsider)
    listing = client.get("/admin/sgportal/idpgroupmapping/")
    assert b"acme-reviewers" not in listing.content
    base = f"/admin/sgportal/idpgroupmapping/{mapping.pk}/"
    assert client.get(f"{base}change/").status_code in (302, 403, 404)
    client.post(f"{base}change/", {"tenant": tenant.pk, "group": "pwned", "role": "admin"})
    mapping.refresh_from_db()
    assert (mapping.group, mapping.role) == ("acme-reviewers", Role.VIEWER)


def test_the_sign_in_page_names_the_provider_and_offers_no_sign_up(client, settings, db):
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "APPS": [
                oidc_app(issuer="https://idp.example", client_id="c", secret="s", name="Acme Okta")
            ]
        }
    }
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Acme Okta" in page
    assert 'action="/accounts/oidc/sso/login/' in page
    assert "sign up" not in page.lower() and "/accounts/signup/" not in page
    assert 'rel="icon"' in page and "sgportal/favicon.svg" in page
    assert "sgportal/localtime.js" in page
    assert "onclick" not in page and "<script>" not in page  # nothing inline (CSP)
    assert client.get("/accounts/signup/").status_code == 200  # allauth's "closed" page
    assert 'name="password"' in page  # DEBUG in tests: password login stays on


def test_times_render_in_utc_for_the_script_to_localize():
    when = dt.datetime(2026, 12, 1, 12, 30, 5, tzinfo=dt.UTC)
    html = Template("{% load sgportal_time %}{{ t|when }}").render(Context({"t": when}))
    assert html == (
        '<time class="sg-time" datetime="2026-12-01T12:30:05Z" '
        'title="2026-12-01 12:30:05 UTC">2026-12-01 12:30 UTC</time>'
    )
