"""Every page keeps working under the Content-Security-Policy in Chromium: the queue, a
change, allauth's pages and the admin report no CSP violation, and look as designed."""

from __future__ import annotations

import os

import pytest

from tests.approvals.factories import ChangeFactory
from tests.browser.test_queue_in_chromium import CHROMIUM, browser_page  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed"),
]
SHOTS = os.environ.get("SGPORTAL_SCREENSHOT_DIR")


def watch(page) -> list[str]:
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: (
            violations.append(f"{page.url}: {msg.text[:300]}")
            if "Content Security Policy" in msg.text
            else None
        ),
    )
    return violations


def test_pages_work_under_the_csp_in_chromium(
    transactional_db,
    live_server,
    browser_page,  # noqa: F811 (the imported fixture)
    tenant,
    account,
    admin_user,
    outsider,
    tmp_path,  # noqa: F811
):
    change = ChangeFactory(account=account, group_id="sg-0000000000000acme")
    shots = SHOTS or str(tmp_path)
    page = browser_page.new_page()
    violations = watch(page)
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.evaluate("() => document.querySelector('meta') !== null")
    page.fill("input[name=login]", admin_user.username)
    page.fill("input[name=password]", "pw-Secret-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    # The nonce'd stylesheet applies: the header is dark, the brand link white.
    header_bg = page.evaluate(
        "() => getComputedStyle(document.querySelector('header')).backgroundColor"
    )
    assert header_bg == "rgb(29, 36, 48)"
    page.screenshot(path=f"{shots}/queue.png", full_page=True)
    # The status filter submits itself on change (a nonce'd script, no inline handler).
    page.select_option("select[name=status]", "pending")
    page.wait_for_url(f"{live_server.url}/?status=pending")
    page.goto(f"{live_server.url}/changes/{change.pk}/")
    assert "sg-0000000000000acme" in page.inner_text("body")
    page.goto(f"{live_server.url}/accounts/email/")
    page.goto(f"{live_server.url}/admin/")
    assert "Site administration" in page.inner_text("body")
    # The admin's own scripts (theme toggle, sidebar) ran: they are same-origin files.
    assert page.evaluate("() => document.documentElement.dataset.theme !== undefined")
    page.goto(f"{live_server.url}/admin/sgportal/awsaccount/")
    page.screenshot(path=f"{shots}/admin.png", full_page=True)
    page.goto(f"{live_server.url}/admin/sgportal/awsaccount/{account.pk}/change/")
    assert page.input_value("input[name=name]") == account.name
    assert violations == []
