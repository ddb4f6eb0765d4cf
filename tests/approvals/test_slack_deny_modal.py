"""A Deny click in a tenant that requires a reason opens Slack's modal (views.open); its
``view_submission`` on /slack/interactions/ decides through the one ``decide()``, with the
same signature, tenant and role checks as a click. With the switch off, Deny is as before."""

from __future__ import annotations

import json
import time

import pytest

from approvals.models import Decision
from approvals.slack.blocks import DENY_REASON_CALLBACK, REASON_ACTION, REASON_BLOCK
from approvals.slack.interactions import UNKNOWN_BUTTON
from ingestion.models import ChangeStatus
from sgportal.models import AuditAction, AuditEntry
from tests.approvals.conftest import (
    click,
    click_payload,
    form_body,
    link,
    post_signed,
    sign,
    submission_payload,
    submit,
)
from tests.approvals.factories import ChangeFactory, SlackMessageFactory

TRIGGER = "1234567890123.1234567890123.abcdef0123456789abcdef0123456789"


@pytest.fixture
def bob(approver, tenant):
    link(approver, tenant, "U0BOB0001")
    return approver


def metadata_of(message) -> dict:
    return {"change": message.change_id, "token": message.action_token}


def nothing_decided(change) -> None:
    change.refresh_from_db()
    assert change.status == ChangeStatus.PENDING
    assert not Decision.objects.filter(change=change).exists()
    assert not AuditEntry.objects.filter(action=AuditAction.DECIDE).exists()


# --- the click opens the modal ------------------------------------------------------------


def test_a_deny_click_opens_the_reason_modal(client, bob, message, slack, slack_tenant):
    response = click(client, message.action_token, action="deny")
    assert response.status_code == 200
    assert response.json() == {"outcome": "modal"}
    [opened] = slack.calls_to("views.open")
    assert opened.token == "xoxb-acme-bot-token"  # the tenant's bot token
    assert opened.body["trigger_id"] == TRIGGER
    view = opened.body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["type"] == "modal" and view["callback_id"] == DENY_REASON_CALLBACK
    assert view["title"]["text"] == "Deny change"
    assert view["submit"]["text"] == "Deny and revert"
    assert json.loads(view["private_metadata"]) == metadata_of(message)
    [box] = [b for b in view["blocks"] if b["type"] == "input"]
    assert box["block_id"] == REASON_BLOCK and box["optional"] is False
    element = box["element"]
    assert element["type"] == "plain_text_input" and element["action_id"] == REASON_ACTION
    assert element["multiline"] is True and element["max_length"] == 1000
    # The change in words, as the message says it (the same helpers).
    text = json.dumps(view["blocks"])
    assert "AuthorizeSecurityGroupIngress" in text and "sg-" in text
    assert "The added rule will be removed from sg-" in text
    nothing_decided(message.change)  # opening the form records nothing
    assert not AuditEntry.objects.exists()


def test_with_the_switch_on_the_deny_button_has_no_confirm_dialog(message, reasonless_deny):
    from approvals.slack.blocks import build_blocks

    def deny_button():
        actions = next(b for b in build_blocks(message) if b["type"] == "actions")
        return next(e for e in actions["elements"] if e["action_id"] == "deny")

    assert "confirm" in deny_button()  # switch off: Slack's confirm dialog, as before
    type(reasonless_deny).objects.filter(pk=reasonless_deny.pk).update(deny_reason_required=True)
    assert "confirm" not in deny_button()  # switch on: the modal confirms


def test_if_the_modal_cannot_open_the_click_points_to_the_change_page(
    client, bob, message, slack, slack_tenant
):
    slack.fail_next("views.open", error="expired_trigger_id")
    body = click(client, message.action_token, action="deny").json()
    assert body["outcome"] == "refused"
    assert "expired_trigger_id" in body["text"]
    url = f"https://sgportal.example.com/changes/{message.change_id}/"
    assert f"<{url}|the change page>" in body["text"]
    nothing_decided(message.change)


def test_a_revoked_token_at_the_modal_marks_the_workspace_broken(
    client, bob, message, slack, slack_tenant, other_tenant
):
    from approvals.models import SlackStatus, SlackWorkspace

    slack.fail_next("views.open", error="token_revoked")
    body = click(client, message.action_token, action="deny").json()
    assert body["outcome"] == "refused" and "token_revoked" in body["text"]
    nothing_decided(message.change)
    workspace = SlackWorkspace.objects.get(tenant=slack_tenant)
    assert workspace.status == SlackStatus.BROKEN and "token_revoked" in workspace.error
    assert SlackWorkspace.of(other_tenant).status != SlackStatus.BROKEN  # Globex untouched
    # An expired trigger is the click's problem, not the settings': nothing marked.
    workspace.mark_ok()
    slack.fail_next("views.open", error="expired_trigger_id")
    click(client, message.action_token, action="deny")
    assert SlackWorkspace.objects.get(tenant=slack_tenant).status == SlackStatus.OK


def test_a_viewer_gets_no_modal(client, viewer, tenant, message, slack, slack_tenant):
    link(viewer, tenant, "U0CAROL01")
    body = click(client, message.action_token, action="deny", user="U0CAROL01").json()
    assert body["outcome"] == "refused" and "not an approver" in body["text"]
    assert slack.calls_to("views.open") == []
    refusal = AuditEntry.objects.get(action=AuditAction.DECISION_REFUSED)
    assert refusal.actor_id == viewer.pk


def test_an_outsider_gets_no_modal(
    client, bob, message, outsider, other_tenant, slack, slack_tenant
):
    link(outsider, other_tenant, "U0MALLORY")
    body = click(client, message.action_token, action="deny", team="TGLOBEX01", user="U0MALLORY")
    assert body.json()["text"] == UNKNOWN_BUTTON
    assert slack.calls_to("views.open") == []
    assert not AuditEntry.objects.filter(tenant=message.change.tenant).exists()


def test_a_deny_click_on_a_decided_change_says_who_was_first(
    client, bob, admin_user, tenant, message, slack, slack_tenant
):
    link(admin_user, tenant, "U0ADMIN01")
    assert click(client, message.action_token, user="U0ADMIN01").json()["outcome"] == "decided"
    body = click(client, message.action_token, action="deny").json()
    assert body["outcome"] == "refused"
    assert "already decided by" in body["text"] and admin_user.username in body["text"]
    assert slack.calls_to("views.open") == []


def test_with_the_switch_off_deny_decides_at_once_without_a_modal(
    client, bob, message, slack, slack_tenant, reasonless_deny
):
    assert click(client, message.action_token, action="deny").json()["outcome"] == "decided"
    assert slack.calls_to("views.open") == []
    decision = Decision.objects.get()
    assert (decision.verdict, decision.reason, decision.user) == ("deny", "", bob)


# --- the submission decides ------------------------------------------------------------------


def test_the_submission_denies_with_the_reason_audited_and_updates_the_message(
    client, bob, message, slack, slack_tenant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, metadata_of(message), "  SSH open to the world \n")
    assert response.status_code == 200
    assert response.json() == {"response_action": "clear"}
    decision = Decision.objects.get()
    assert (decision.verdict, decision.via, decision.user) == ("deny", "slack", bob)
    assert decision.reason == "SSH open to the world"
    message.change.refresh_from_db()
    assert message.change.status == ChangeStatus.DENIED
    entry = AuditEntry.objects.get(action=AuditAction.DECIDE)
    assert entry.after["reason"] == "SSH open to the world" and entry.actor_id == bob.pk
    assert entry.via == "slack"
    # The message update happens as after any decision.
    [update] = slack.calls_to("chat.update")
    assert update.body["ts"] == message.ts
    assert "SSH open to the world" in str(update.body["blocks"])


@pytest.mark.parametrize("reason", ["", "   \n\t ", None])
def test_an_empty_reason_is_a_field_error_and_nothing_is_decided(client, bob, message, reason):
    response = submit(client, metadata_of(message), reason)
    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == [REASON_BLOCK] and "reason" in body["errors"][REASON_BLOCK]
    nothing_decided(message.change)


def test_a_too_long_reason_is_a_field_error(client, bob, message):
    body = submit(client, metadata_of(message), "x" * 1001).json()
    assert body["response_action"] == "errors" and "1000" in body["errors"][REASON_BLOCK]
    nothing_decided(message.change)


@pytest.mark.parametrize("tamper", ["replay", "future", "one_byte", "wrong_secret", "none"])
def test_a_forged_or_replayed_submission_is_refused(client, bob, message, tamper):
    body = form_body(submission_payload(metadata_of(message), "forged"))
    now = int(time.time())
    ts, signature = str(now), sign(body, str(now))
    if tamper == "replay":  # a captured request, presented again after the window
        ts = str(now - 6 * 60)
        signature = sign(body, ts)
    elif tamper == "future":
        ts = str(now + 6 * 60)
        signature = sign(body, ts)
    elif tamper == "one_byte":
        body = body.replace("forged", "forgeD")
    elif tamper == "wrong_secret":
        signature = sign(body, ts, secret="not-the-signing-secret")
    elif tamper == "none":
        signature = ""
    response = post_signed(client, body, timestamp=int(ts), signature=signature)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_signature"}
    nothing_decided(message.change)
    assert not AuditEntry.objects.exists()


def test_another_tenants_team_cannot_submit(
    client, bob, message, outsider, other_tenant, other_account
):
    """Globex's linked admin submits a modal naming Acme's change from Globex's workspace."""
    link(outsider, other_tenant, "U0MALLORY")
    response = submit(client, metadata_of(message), "mine now", team="TGLOBEX01", user="U0MALLORY")
    body = response.json()
    assert body["response_action"] == "update"
    assert UNKNOWN_BUTTON in json.dumps(body["view"])
    nothing_decided(message.change)
    # Recorded in Globex's chain (their user's attempt), never in Acme's.
    assert not AuditEntry.objects.filter(tenant=message.change.tenant).exists()
    assert AuditEntry.objects.get(tenant=other_tenant).action == AuditAction.DECISION_REFUSED


def test_private_metadata_naming_another_tenants_change_is_refused(
    client, bob, tenant, message, other_account
):
    """Acme's approver, from Acme's workspace, with metadata pointing at Globex's change."""
    theirs = SlackMessageFactory(change=ChangeFactory(account=other_account))
    for metadata in (
        {"change": theirs.change_id, "token": theirs.action_token},  # their change and button
        {"change": theirs.change_id, "token": message.action_token},  # our button, their id
        {"change": message.change_id, "token": theirs.action_token},  # our id, their button
    ):
        body = submit(client, metadata, "deny theirs").json()
        assert body["response_action"] == "update"
        assert UNKNOWN_BUTTON in json.dumps(body["view"])
    assert not Decision.objects.exists()
    for change in (theirs.change, message.change):
        change.refresh_from_db()
        assert change.status == ChangeStatus.PENDING
    assert not AuditEntry.objects.filter(tenant=other_account.tenant).exists()
    refusals = AuditEntry.objects.filter(tenant=tenant)
    assert {e.action for e in refusals} == {AuditAction.DECISION_REFUSED}


@pytest.mark.parametrize("metadata", ["", "not json", "[1, 2]", '{"change": "1", "token": 5}'])
def test_garbled_private_metadata_is_refused(client, bob, message, metadata):
    body = submit(client, metadata, "a reason").json()
    assert body["response_action"] == "update"
    nothing_decided(message.change)


def test_a_viewer_cannot_submit(client, viewer, tenant, message):
    link(viewer, tenant, "U0CAROL01")
    body = submit(client, metadata_of(message), "I think not", user="U0CAROL01").json()
    assert body["response_action"] == "update"
    assert "not an approver" in json.dumps(body["view"])
    nothing_decided(message.change)
    refusal = AuditEntry.objects.get(action=AuditAction.DECISION_REFUSED)
    assert refusal.actor_id == viewer.pk


def test_an_unlinked_user_cannot_submit(client, tenant, message):
    body = submit(client, metadata_of(message), "who am I", user="U0STRANGER").json()
    assert body["response_action"] == "update"
    assert "not linked to an sgportal user" in json.dumps(body["view"])
    nothing_decided(message.change)


def test_a_submission_on_a_decided_change_says_who_was_first(
    client, bob, admin_user, tenant, message
):
    link(admin_user, tenant, "U0ADMIN01")
    assert click(client, message.action_token, user="U0ADMIN01").json()["outcome"] == "decided"
    body = submit(client, metadata_of(message), "too late").json()
    assert body["response_action"] == "update"
    text = json.dumps(body["view"])
    assert "Not recorded: this change was already decided by" in text
    assert admin_user.username in text
    assert Decision.objects.get().verdict == "approve"


def test_a_redelivered_submission_is_harmless(client, bob, message):
    payload = form_body(submission_payload(metadata_of(message), "world SSH"))
    first, again = post_signed(client, payload), post_signed(client, payload)
    assert first.json() == again.json() == {"response_action": "clear"}
    assert Decision.objects.count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.DECIDE).count() == 1


def test_another_modal_is_closed_and_ignored(client, bob, message):
    response = submit(client, metadata_of(message), "x", callback_id="something_else")
    assert response.status_code == 200 and response.content == b""
    nothing_decided(message.change)


def test_a_block_actions_click_payload_still_works_beside_it(client, bob, message):
    """The same endpoint tells the two kinds apart by ``type``."""
    payload = click_payload(message.action_token)
    assert post_signed(client, form_body(payload)).json()["outcome"] == "decided"
