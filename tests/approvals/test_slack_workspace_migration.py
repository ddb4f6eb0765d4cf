"""approvals 0009 / sgportal 0015: the Slack settings move from Tenant into SlackWorkspace
with nothing lost (token still encrypted at rest, status and error kept), and back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from approvals.models import SlackStatus, SlackWorkspace
from sgportal.models import Tenant

BEFORE = [
    ("approvals", "0008_policy_match_due_keyset"),
    ("sgportal", "0014_tenant_deny_reason_required"),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _stored_token(tenant_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bot_token FROM approvals_slackworkspace WHERE tenant_id = %s", [tenant_id]
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_existing_slack_settings_are_carried_over_and_back():
    old_apps = _migrate(BEFORE)
    old_tenant = old_apps.get_model("sgportal", "Tenant")
    acme = old_tenant.objects.create(
        slug="acme",
        name="Acme",
        slack_team_id="TACME0001",
        slack_channel_id="CACME0001",
        slack_bot_token="xoxb-acme-secret",
        slack_status="broken",
        slack_error="invalid_auth",
    )
    globex = old_tenant.objects.create(
        slug="globex", name="Globex", slack_team_id="TGLOBEX01", slack_status="ok"
    )
    initech = old_tenant.objects.create(slug="initech", name="Initech")  # no Slack at all

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    workspace = SlackWorkspace.objects.get(tenant_id=acme.pk)
    assert (workspace.team_id, workspace.channel_id, workspace.bot_token) == (
        "TACME0001",
        "CACME0001",
        "xoxb-acme-secret",
    )
    assert (workspace.status, workspace.error) == (SlackStatus.BROKEN, "invalid_auth")
    stored = _stored_token(acme.pk)
    assert stored.startswith("fernet:") and "xoxb" not in stored
    other = SlackWorkspace.objects.get(tenant_id=globex.pk)
    assert (other.team_id, other.channel_id, other.bot_token, other.status) == (
        "TGLOBEX01",
        "",
        "",
        SlackStatus.OK,
    )
    assert not SlackWorkspace.objects.filter(tenant_id=initech.pk).exists()
    assert SlackWorkspace.of(Tenant.objects.get(pk=initech.pk)).why_unusable()
    # A click from Acme's workspace still finds Acme, and only Acme.
    assert list(Tenant.objects.filter(slack_workspace__team_id="TACME0001")) == [
        Tenant.objects.get(pk=acme.pk)
    ]
    column_names = [c.name for c in connection.introspection.get_table_description(
        connection.cursor(), "sgportal_tenant"
    )]  # fmt: skip
    assert not [name for name in column_names if name.startswith("slack_")]

    # Backwards: the Tenant fields come back holding the same values.
    old_apps = _migrate(BEFORE)
    back = old_apps.get_model("sgportal", "Tenant").objects.get(pk=acme.pk)
    assert (back.slack_team_id, back.slack_channel_id, back.slack_bot_token) == (
        "TACME0001",
        "CACME0001",
        "xoxb-acme-secret",
    )
    assert (back.slack_status, back.slack_error) == ("broken", "invalid_auth")
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert SlackWorkspace.objects.get(tenant_id=acme.pk).bot_token == "xoxb-acme-secret"


def test_two_tenants_cannot_share_a_workspace_after_the_move(tenant, other_tenant):
    from django.db import IntegrityError, transaction

    other = other_tenant.slack_workspace
    other.team_id = tenant.slack_workspace.team_id
    with pytest.raises(IntegrityError), transaction.atomic():
        other.save()
    other.refresh_from_db()
    assert other.team_id == "TGLOBEX01"
