"""Issue 9, findings 6 and 11: the Slack workspace comes from the bot token (auth.test), never
from a form, and secrets are write-only in the tenant form."""

from __future__ import annotations

import pytest

from ingestion.models import hash_secret
from ingestion.sources import set_eventbridge_secret
from sgportal.models import AuditEntry
from tests.admin_forms import changeform_data

TOKEN = "slack_workspace-0-bot_token"  # the tenant page's Slack inline
CLEAR = "slack_workspace-0-bot_token__clear"
TEAM = "slack_workspace-0-team_id"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def posted(admin_client, tenant, **changes) -> dict:
    page = admin_client.get(f"/admin/sgportal/tenant/{tenant.pk}/change/")
    data = changeform_data(page)
    data.pop("slug", None), data.pop("active", None)
    data.update(changes)
    return data


def save(admin_client, tenant, **changes):
    return admin_client.post(
        f"/admin/sgportal/tenant/{tenant.pk}/change/", posted(admin_client, tenant, **changes)
    )


def test_a_typed_team_id_is_ignored_and_the_tokens_workspace_is_used(
    admin_client, tenant, other_tenant, slack
):
    response = save(
        admin_client,
        tenant,
        **{
            TEAM: other_tenant.slack_workspace.team_id,  # squatting Globex's workspace
            TOKEN: "xoxb-TACMENEW1-acme-bot",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    tenant.refresh_from_db()
    assert tenant.slack_workspace.team_id == "TACMENEW1"  # from auth.test with the token
    other_tenant.refresh_from_db()
    assert other_tenant.slack_workspace.team_id == "TGLOBEX01"
    assert [c.token for c in slack.calls_to("auth.test")] == ["xoxb-TACMENEW1-acme-bot"]


def test_a_token_slack_refuses_is_not_saved(admin_client, tenant, slack):
    slack.fail_next("auth.test", error="invalid_auth")
    entries = AuditEntry.objects.count()
    response = save(admin_client, tenant, **{TOKEN: "xoxb-TACME0001-revoked"})
    assert response.status_code == 200
    assert b"Slack did not accept this token (invalid_auth)" in response.content
    tenant.refresh_from_db()
    assert tenant.slack_workspace.bot_token == "" and AuditEntry.objects.count() == entries


def test_secrets_are_never_sent_back_to_the_browser(admin_client, tenant):
    tenant.slack_workspace.bot_token = "xoxb-TACME0001-stored-secret"
    tenant.slack_workspace.save()
    set_eventbridge_secret(tenant, "eb-stored-secret-value")
    page = admin_client.get(f"/admin/sgportal/tenant/{tenant.pk}/change/").content
    assert b"stored-secret" not in page
    assert hash_secret("eb-stored-secret-value").encode() not in page
    assert page.count(b"Set. Type a new value to replace it") == 1
    assert b"only its hash is kept" in page


def test_an_empty_secret_input_keeps_the_stored_value_and_clear_empties_it(admin_client, tenant):
    tenant.slack_workspace.bot_token = "xoxb-TACME0001-keep-me"
    tenant.slack_workspace.save()
    assert save(admin_client, tenant, name="Acme Renamed").status_code == 302
    tenant.refresh_from_db()
    assert tenant.slack_workspace.bot_token == "xoxb-TACME0001-keep-me"
    assert save(admin_client, tenant, **{CLEAR: "on"}).status_code == 302
    tenant.refresh_from_db()
    assert tenant.slack_workspace.bot_token == ""
    entry = AuditEntry.objects.filter(tenant=tenant).latest("seq")
    assert entry.before["bot_token"] == "********" and entry.after["bot_token"] == ""


def test_clearing_the_bot_token_forgets_the_workspace(admin_client, tenant):
    tenant.slack_workspace.bot_token = "xoxb-TACME0001-bot"
    tenant.slack_workspace.save()
    assert save(admin_client, tenant, **{CLEAR: "on"}).status_code == 302
    tenant.refresh_from_db()
    workspace = tenant.slack_workspace
    assert (workspace.bot_token, workspace.team_id, workspace.status) == (
        "",
        "",
        "unconfigured",
    )


def test_the_outsider_cannot_set_our_secrets(client, outsider, tenant):
    client.force_login(outsider)
    response = client.post(
        f"/admin/sgportal/tenant/{tenant.pk}/change/",
        {
            "name": "x",
            "slack_workspace-TOTAL_FORMS": "1",
            "slack_workspace-INITIAL_FORMS": "1",
            "slack_workspace-0-id": str(tenant.slack_workspace.pk),
            "slack_workspace-0-tenant": str(tenant.pk),
            TOKEN: "xoxb-outsider",
            "default_policy": "review",
        },
    )
    assert response.status_code == 302  # "does not exist"
    tenant.refresh_from_db()
    assert tenant.slack_workspace.bot_token == "" and tenant.name == "Acme Corp"


def test_the_outsider_cannot_reach_our_workspace_through_their_own_tenant_page(
    client, outsider, tenant, other_tenant, slack
):
    client.force_login(outsider)
    page = client.get(f"/admin/sgportal/tenant/{other_tenant.pk}/change/")
    data = changeform_data(page)
    data.update(
        {
            "slack_workspace-0-id": str(tenant.slack_workspace.pk),  # Acme's row
            "slack_workspace-0-tenant": str(tenant.pk),
            TOKEN: "xoxb-TACME0001-hijack",
        }
    )
    response = client.post(f"/admin/sgportal/tenant/{other_tenant.pk}/change/", data)
    assert response.status_code == 200
    tenant.refresh_from_db()
    other_tenant.refresh_from_db()
    assert tenant.slack_workspace.bot_token == ""
    assert other_tenant.slack_workspace.bot_token == ""
    assert slack.calls_to("auth.test") == []
