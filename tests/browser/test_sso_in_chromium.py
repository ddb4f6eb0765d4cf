"""Signing in through single sign-on in Chromium: the branded page's button, the OpenID
Connect provider (pyop, HTTPS on loopback), back to the queue; times shown in the reader's
zone with UTC on hover; no CSP violation on the way."""

from __future__ import annotations

import os

import pytest

from sgportal.models import IdpGroupMapping, Membership
from sgportal.tenancy import Role
from tests.browser.test_queue_in_chromium import CHROMIUM, browser_page  # noqa: F401 (fixture)
from tests.sgportal.sso_idps import OidcProvider

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed"),
]
SHOTS = os.environ.get("SGPORTAL_SCREENSHOT_DIR")


def test_a_reviewer_signs_in_through_sso_in_chromium(
    transactional_db,
    live_server,
    browser_page,  # noqa: F811 (the imported fixture)
    settings,
    monkeypatch,
    tmp_path,
    tenant,
):
    idp = OidcProvider(tmp_path, callback=f"{live_server.url}/accounts/oidc/sso/login/callback/")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(idp.ca_bundle))  # the server side trusts it
    settings.SOCIALACCOUNT_PROVIDERS = idp.app_settings()
    IdpGroupMapping.objects.create(tenant=tenant, group="acme-reviewers", role=Role.APPROVER)
    idp.add_user("nora", email="nora@acme.example", email_verified=True, groups=["acme-reviewers"])
    idp.sign_in_as("nora")
    shots = SHOTS or str(tmp_path)
    try:
        # The provider's own certificate is not the browser's business here.
        context = browser_page.new_context(ignore_https_errors=True, timezone_id="Asia/Tokyo")
        page = context.new_page()
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{live_server.url}/accounts/login/")
        page.screenshot(path=f"{shots}/sign-in.png", full_page=True)
        assert page.title() == "Sign in · sgportal"
        page.get_by_role("button", name="Sign in with Acme Okta").click()
        page.wait_for_url(f"{live_server.url}/")
        assert "nora" in page.inner_text("header")
        assert Membership.objects.get(tenant=tenant, user__email="nora@acme.example").role == (
            Role.APPROVER
        )
        # localtime.js: a server-rendered UTC time becomes the reader's, UTC on hover.
        shown = page.evaluate(
            """() => {
                const t = document.createElement('time');
                t.className = 'sg-time';
                t.setAttribute('datetime', '2026-12-01T12:30:00Z');
                t.textContent = '2026-12-01 12:30 UTC';
                document.querySelector('main').appendChild(t);
                window.sgLocalizeTimes(document);
                return [t.textContent, t.title];
            }"""
        )
        assert "21:30" in shown[0] or "9:30" in shown[0]  # Tokyo is UTC+9
        assert shown[1] == "2026-12-01 12:30:00 UTC"
        assert violations == []
    finally:
        idp.close()
