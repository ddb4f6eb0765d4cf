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


def test_the_tenant_list_shows_each_tenants_slack_status_in_one_query(
    client, superuser, tenant, other_tenant, django_assert_max_num_queries
):
    from approvals.models import SlackStatus
    from tests.factories import TenantFactory

    TenantFactory(slug="initech", name="Initech")  # no Slack at all
    tenant.slack_workspace.status = SlackStatus.BROKEN
    tenant.slack_workspace.save()
    client.force_login(superuser)
    client.get("/admin/sgportal/tenant/")  # warm the session and content types
    with django_assert_max_num_queries(12) as queries:
        page = client.get("/admin/sgportal/tenant/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Broken (see error)" in text and text.count("Not configured") == 2
    workspace_reads = [q for q in queries.captured_queries if "slackworkspace" in q["sql"]]
    assert len(workspace_reads) == 1  # joined into the list's query, not one per tenant


def test_the_outsider_sees_neither_our_slack_inline_nor_our_tenant(client, outsider, tenant):
    client.force_login(outsider)
    page = client.get("/admin/sgportal/tenant/")
    assert b"Acme Corp" not in page.content
    assert client.get(f"/admin/sgportal/tenant/{tenant.pk}/change/").status_code == 302
