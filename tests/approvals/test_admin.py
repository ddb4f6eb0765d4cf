"""Admin pages of approvals: read-only, tenant-scoped, the button token never shown."""

from __future__ import annotations

from approvals.actions import decide
from tests.approvals.factories import ChangeFactory, SlackMessageFactory


def test_a_tenant_admin_sees_own_decisions_read_only(client, admin_user, approver, change):
    decide(change, verdict="approve", actor=approver, via="web")
    client.force_login(admin_user)
    page = client.get("/admin/approvals/decision/")
    assert page.status_code == 200 and b"bob-approver" in page.content
    assert client.get("/admin/approvals/decision/add/").status_code == 403


def test_the_outsider_sees_no_decision_or_message_of_this_tenant(
    client, outsider, approver, change, other_account
):
    decide(change, verdict="approve", actor=approver, via="web")
    message = SlackMessageFactory(change=change)
    SlackMessageFactory(change=ChangeFactory(account=other_account))
    client.force_login(outsider)
    assert b"bob-approver" not in client.get("/admin/approvals/decision/").content
    assert client.get(f"/admin/approvals/slackmessage/{message.pk}/change/").status_code in (
        302,
        403,
        404,
    )


def test_the_message_page_hides_the_button_token(client, admin_user, change):
    message = SlackMessageFactory(change=change)
    client.force_login(admin_user)
    page = client.get(f"/admin/approvals/slackmessage/{message.pk}/change/")
    assert page.status_code == 200
    assert message.action_token.encode() not in page.content
