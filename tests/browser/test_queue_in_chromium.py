"""A reviewer in a real browser (Debian's Chromium, driven by Playwright): logs in, finds a
change in the queue, denies it, and sees it reverted; an outsider sees none of it."""

from __future__ import annotations

import os
import shutil

import pytest
from django.db import connections

from tests.browser.conftest import world_ssh_change
from tests.remediation.helpers import group_rules

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed"),
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
        # With Playwright's loop in this thread, the test's ORM calls got a database
        # connection of their own (asgiref's Local follows the loop's context); close it
        # here, in that context, or it outlives the test and blocks the test database's
        # teardown ("being accessed by other users").
        connections.close_all()


def login(browser, live_server, username):
    page = browser.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", "pw-Secret-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


@pytest.mark.usefixtures("aws_env")
def test_a_reviewer_denies_a_change_in_the_browser_and_sees_it_reverted(
    transactional_db,
    live_server,
    browser_page,
    celery_eager,
    tenant,
    account,
    approver,
    outsider,
    tmp_path,
):
    ec2, group, rule_id, change_id = world_ssh_change(tenant, account)

    page = login(browser_page, live_server, approver.username)
    assert "tcp/22 from 0.0.0.0/0" in page.inner_text("table")
    page.click(f"a[href='/changes/{change_id}/']")
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation of what deny does
    page.fill("textarea[name=reason]", "not requested")  # a deny needs a reason
    page.click("button[value=deny]")
    page.wait_for_load_state()
    page.screenshot(path=str(tmp_path / "denied.png"))
    assert "Reverted" in page.inner_text("body")
    assert rule_id not in {r["rule_id"] for r in group_rules(ec2, group)}

    other = login(browser_page, live_server, outsider.username)
    assert f"/changes/{change_id}/" not in other.content()
    response = other.goto(f"{live_server.url}/changes/{change_id}/")
    assert response.status == 404
