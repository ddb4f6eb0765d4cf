"""Tenant- and user-controlled text reaches Slack mrkdwn escaped (&, <, >), so a tenant
named ``<!channel>`` pings nobody and a name cannot smuggle in a link."""

from __future__ import annotations

from approvals.models import Decision
from approvals.slack.blocks import build_blocks, escape_mrkdwn, summary_text
from tests.approvals.conftest import click, link

HOSTILE = "Acme <!channel> & <https://evil.example/|Open in sgportal>"
ESCAPED = "Acme &lt;!channel&gt; &amp; &lt;https://evil.example/|Open in sgportal&gt;"


def test_it_escapes_the_three_characters_slack_names():
    assert escape_mrkdwn("a & <b> &amp;") == "a &amp; &lt;b&gt; &amp;amp;"


def test_a_hostile_tenant_name_is_escaped_in_the_link_prompt(client, tenant, message):
    tenant.name = HOSTILE
    tenant.save(update_fields=["name"])
    response = click(client, message.action_token, user="U0NEWBIE1")
    text = response.json()["text"]
    assert "not linked" in text and ESCAPED in text
    assert "<!channel>" not in text and "<https://evil" not in text
    assert not Decision.objects.exists()


def test_a_hostile_tenant_name_and_username_are_escaped_in_the_role_refusal(
    client, viewer, tenant, message
):
    tenant.name = HOSTILE
    tenant.save(update_fields=["name"])
    viewer.username = "carol<!here>"
    viewer.save(update_fields=["username"])
    link(viewer, tenant, "U0CAROL01")
    text = click(client, message.action_token, user="U0CAROL01").json()["text"]
    assert ESCAPED in text and "carol&lt;!here&gt;" in text
    assert "<!" not in text
    assert not Decision.objects.exists()


def test_a_hostile_account_name_is_escaped_in_the_message(message):
    account = message.change.account
    account.name = "<!everyone> prod"
    account.save(update_fields=["name"])
    message.change.refresh_from_db()
    blocks = str(build_blocks(message))
    assert "&lt;!everyone&gt; prod" in blocks and "<!everyone>" not in blocks
    assert "<!everyone>" not in summary_text(message.change)
