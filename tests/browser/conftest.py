"""Browser fixtures (Debian's Chromium through Playwright) and the axe-core check.

axe-core is vendored in ``support/`` (from the npm registry: ``npm pack axe-core@4.14.1``,
MPL-2.0) so these tests need no network."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.db import connections

from sgportal.celery import app as celery_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "support" / "axe-4.14.1.min.js"
PASSWORD = "pw-Secret-123"  # tests.factories.UserFactory's
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def chromium(monkeypatch):
    """A headless Chromium; closes the ORM connection Playwright's loop context opened."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
        connections.close_all()


@pytest.fixture
def tasks_on_broker():
    """Tasks go to the broker (nobody consumes them): the test runs them itself, so a page
    can be watched changing while it stays open."""
    old = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = old


def sign_in(browser, live_server, username: str, *, viewport=DESKTOP, bypass_csp=False):
    """A new page (its own cookies), signed in with the password form."""
    context = browser.new_context(viewport=viewport, bypass_csp=bypass_csp)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # confirmations say yes
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def serious_axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page (needs bypass_csp: the script
    is injected inline)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def screenshot(page, name: str) -> None:
    """Save a full-page screenshot when SGPORTAL_SCREENSHOTS names a directory."""
    folder = os.environ.get("SGPORTAL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def world_ssh_change(tenant, account):
    """tcp/22 from 0.0.0.0/0 authorized on a new group in the AWS emulator, and the change
    that records it stored as ingestion would: (ec2 client, group id, rule id, change id)."""
    from ingestion import simulate
    from ingestion.models import Source
    from ingestion.parser import parse_record
    from ingestion.store import own_role_arns, store_changes
    from tests.remediation.helpers import REGION, make_group, member_ec2

    ec2 = member_ec2(account, REGION)
    group = make_group(ec2, "payments-web")
    record = simulate.authorize(
        ec2,
        group_id=group,
        account_id=account.account_id,
        region=REGION,
        permissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    rule_id = record["responseElements"]["securityGroupRuleSet"]["items"][0]["securityGroupRuleId"]
    parsed = parse_record(record, own_role_arns=own_role_arns(tenant))
    change_id = store_changes(tenant, [parsed], source=Source.MANUAL).new_ids[0]
    return ec2, group, rule_id, change_id
