"""Reviewers on the web, in Debian's Chromium (issue 13; issue 11 item 7): filter and search
the queue, bulk approve, deny with a reason and watch the status turn to reverted without a
reload, undo the revert as a tenant admin, the dashboard; axe-core finds no serious or
critical accessibility violation on the queue, the change page and the dashboard."""

from __future__ import annotations

import pytest

from approvals.models import Decision, Verdict
from ingestion.models import SecurityGroupChange
from ingestion.rules import Rule
from remediation import tasks as remediation_tasks
from tests.approvals.factories import ChangeFactory
from tests.browser.conftest import (
    PHONE,
    screenshot,
    serious_axe_violations,
    sign_in,
    world_ssh_change,
)
from tests.remediation.helpers import group_rules

pytestmark = pytest.mark.browser


def office_rule() -> list[dict]:
    return [
        Rule(
            action="added",
            direction="ingress",
            protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="203.0.113.0/24",
            rule_id="sgr-0office",
        ).to_json()
    ]


@pytest.fixture
def queue_rows(transactional_db, account, other_account):
    return {
        "ssh": ChangeFactory(account=account, group_id="sg-0ssh000000000000"),
        "office": ChangeFactory(
            account=account,
            group_id="sg-0office00000000",
            group_name="office-vpn",
            rules=office_rule(),
        ),
        "web": ChangeFactory(account=account, group_id="sg-0web00000000000"),
        "foreign": ChangeFactory(account=other_account, group_id="sg-0f0reign0000000"),
    }


def test_a_reviewer_filters_searches_and_bulk_approves(live_server, chromium, queue_rows, approver):
    page = sign_in(chromium, live_server, approver.username)
    body = page.inner_text("#queue-results")
    assert "sg-0ssh" in body and "sg-0office" in body and "sg-0f0reign" not in body

    page.fill("input[name=q]", "office-vpn")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**q=office-vpn**")
    body = page.inner_text("#queue-results")
    assert "sg-0office" in body and "sg-0ssh" not in body

    page.goto(f"{live_server.url}/")
    page.select_option("select[name=severity]", "4")  # submits on change
    page.wait_for_url("**severity=4**")
    body = page.inner_text("#queue-results")
    assert "sg-0ssh" in body and "sg-0office" not in body

    page.goto(f"{live_server.url}/?status=pending")
    for key in ("ssh", "web"):
        page.check(f"input[name=change][value='{queue_rows[key].pk}']")
    assert page.inner_text("[data-bulk-count]") == "2 selected"
    page.fill("input#bulk-reason", "maintenance window CHG-42")
    page.click("button[data-bulk-submit]")
    page.wait_for_selector(".msg-success")
    assert "Approved 2 change(s)" in page.inner_text(".messages")
    approved = Decision.objects.filter(verdict=Verdict.APPROVE, reason="maintenance window CHG-42")
    assert sorted(approved.values_list("change_id", flat=True)) == sorted(
        [queue_rows["ssh"].pk, queue_rows["web"].pk]
    )
    assert not Decision.objects.filter(change=queue_rows["office"]).exists()


def test_the_queue_shows_new_changes_without_a_reload(live_server, chromium, queue_rows, viewer):
    page = sign_in(chromium, live_server, viewer.username)
    page.evaluate("window.__stillHere = true")
    ChangeFactory(account=queue_rows["ssh"].account, group_id="sg-0arrived00000000")
    page.wait_for_selector("text=sg-0arrived00000000", timeout=25_000)
    assert page.evaluate("window.__stillHere") is True


@pytest.mark.usefixtures("aws_env", "tasks_on_broker")
def test_deny_with_a_reason_turns_reverted_live_and_an_admin_undoes_it(
    transactional_db, live_server, chromium, tenant, account, approver, admin_user
):
    ec2, group, rule_id, change_id = world_ssh_change(tenant, account)

    page = sign_in(chromium, live_server, approver.username)
    page.goto(f"{live_server.url}/changes/{change_id}/")
    assert "The added rule will be removed" in page.inner_text(".deny-effect")
    page.click("button[value=deny]")  # no reason yet: the browser refuses to send
    assert not Decision.objects.filter(change_id=change_id).exists()
    page.fill("textarea[name=reason]", "nobody asked for SSH from the world")
    page.click("button[value=deny]")
    page.wait_for_selector("[data-status=denied]")
    page.evaluate("window.__stillHere = true")

    deny = Decision.objects.get(change_id=change_id)
    assert deny.reason == "nobody asked for SSH from the world"
    remediation_tasks.revert_change.apply(args=[change_id, deny.pk])  # the worker's part
    page.wait_for_selector("[data-status=reverted]", timeout=15_000)
    assert page.evaluate("window.__stillHere") is True  # the page was not reloaded
    assert "Revert #" in page.inner_text("#change-status")
    assert rule_id not in {r["rule_id"] for r in group_rules(ec2, group)}
    assert "Undo this revert" not in page.content()  # approvers cannot undo

    admin = sign_in(chromium, live_server, admin_user.username)
    admin.goto(f"{live_server.url}/changes/{change_id}/")
    assert "tcp/22" in admin.inner_text("form.undo")
    admin.fill("#undo-reason", "the SSH rule was planned after all")
    admin.check("form.undo input[name=confirm]")
    admin.click("form.undo button")
    admin.wait_for_selector(".msg-success")
    undo = Decision.objects.get(change_id=change_id, verdict=Verdict.UNDO_REVERT)
    assert undo.user == admin_user
    remediation_tasks.undo_revert.apply(args=[change_id, undo.pk])
    back = [r["definition"] for r in group_rules(ec2, group)]
    assert any(d.get("cidr_ipv4") == "0.0.0.0/0" and d.get("from_port") == 22 for d in back)
    assert SecurityGroupChange.objects.get(pk=change_id).status == "approved"


def test_pages_pass_axe_and_render_at_desktop_and_phone_width(
    live_server, chromium, queue_rows, approver
):
    change = queue_rows["ssh"]
    pages = {"queue": "/", "change": f"/changes/{change.pk}/", "dashboard": "/dashboard/"}
    for width_name, viewport in (("desktop", None), ("phone", PHONE)):
        kwargs = {"viewport": viewport} if viewport else {}
        page = sign_in(chromium, live_server, approver.username, bypass_csp=True, **kwargs)
        for name, path in pages.items():
            page.goto(f"{live_server.url}{path}")
            screenshot(page, f"{name}-{width_name}")
            assert serious_axe_violations(page) == [], f"{name} at {width_name}"
        assert "Changes per day by severity" in page.inner_text("main")
        assert page.locator("svg rect").count() >= 1
