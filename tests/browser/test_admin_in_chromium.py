"""A tenant admin in Chromium: the tenant page shows the ExternalId and the trust policy to
paste, never a secret; the membership form grants by email. Screenshots go to the test's
tmp dir, or to $SGPORTAL_SCREENSHOTS when set (to look at them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed"),
]


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        yield browser
        browser.close()
        connections.close_all()


def test_a_tenant_admin_sees_the_external_id_and_grants_by_email(
    transactional_db, live_server, browser, tenant, admin_user, tmp_path
):
    shots = Path(os.environ.get("SGPORTAL_SCREENSHOTS") or tmp_path)
    tenant.slack_workspace.bot_token = "xoxb-TACME0001-never-shown"
    tenant.slack_workspace.save()
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", admin_user.username)
    page.fill("input[name=password]", "pw-Secret-123")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/sgportal/tenant/{tenant.pk}/change/")
    text = page.inner_text("body")
    assert tenant.external_id in text and "sts:ExternalId" in text
    assert "never-shown" not in page.content()
    page.screenshot(path=shots / "admin-tenant.png", full_page=True)

    page.goto(f"{live_server.url}/admin/sgportal/membership/add/")
    page.fill("input[name=email]", "new.reviewer@acme.example")
    page.select_option("select[name=tenant]", str(tenant.pk))
    page.select_option("select[name=role]", "approver")
    page.screenshot(path=shots / "admin-membership-grant.png", full_page=True)
    with page.expect_navigation(url="**/admin/sgportal/membership/"):  # the list, loaded
        page.click("input[name=_save]")
    assert "binds at their next sign-in" in page.inner_text("body")
    page.screenshot(path=shots / "admin-membership-list.png", full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e], errors
