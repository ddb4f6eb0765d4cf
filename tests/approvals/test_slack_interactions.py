"""POST /slack/interactions/: signed clicks, tenant and role checks, refusals audited."""

from __future__ import annotations

import time

import pytest

from approvals.models import Decision, SlackLinkNonce
from approvals.slack.interactions import NOT_CONNECTED, UNKNOWN_BUTTON
from ingestion.models import ChangeStatus, SecurityGroupChange
from sgportal.models import AuditAction, AuditEntry, Membership
from sgportal.tenancy import Role
from tests.approvals.conftest import (
    click,
    click_payload,
    form_body,
    link,
    post_signed,
    sign,
)
from tests.approvals.factories import ChangeFactory, SlackMessageFactory

URL = "/slack/interactions/"


def nothing_written():
    return not Decision.objects.exists() and not AuditEntry.objects.exists()


def only_refusals_recorded_in(tenant) -> bool:
    """No decision anywhere; the only audit entries are refusals in ``tenant``'s chain."""
    entries = list(AuditEntry.objects.values_list("tenant_id", "action"))
    return (
        not Decision.objects.exists()
        and bool(entries)
        and all(entry == (tenant.pk, "decision_refused") for entry in entries)
    )


@pytest.fixture
def bob(approver, tenant):
    link(approver, tenant, "U0BOB0001")
    return approver


# --- signature ---------------------------------------------------------------------


def test_a_properly_signed_click_by_a_linked_approver_decides(
    client, bob, message, slack, slack_tenant, reasonless_deny, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = click(client, message.action_token, action="deny")
    assert response.status_code == 200
    assert response.json()["outcome"] == "decided"
    decision = Decision.objects.get()
    assert (decision.user, decision.verdict, decision.via) == (bob, "deny", "slack")
    message.change.refresh_from_db()
    assert message.change.status == ChangeStatus.DENIED
    entry = AuditEntry.objects.get(action=AuditAction.DECIDE)
    assert entry.via == "slack" and entry.actor_id == bob.pk
    [update] = slack.calls_to("chat.update")
    assert update.body["ts"] == message.ts
    assert "Denied by *bob-approver" in str(update.body["blocks"])


def test_no_slack_call_happens_inside_the_request(
    client, bob, message, slack, slack_tenant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = click(client, message.action_token)
    assert response.status_code == 200
    assert slack.calls == []  # the update waits for commit, then goes through Celery
    assert len(callbacks) >= 1


@pytest.mark.parametrize(
    "tamper",
    ["replay", "future", "one_byte", "wrong_secret", "no_signature", "no_timestamp", "junk_ts"],
)
def test_a_badly_signed_request_is_refused_and_writes_nothing(client, bob, message, tamper):
    body = form_body(click_payload(message.action_token))
    now = int(time.time())
    headers = {"timestamp": now, "signature": None}
    if tamper == "replay":
        headers["timestamp"] = now - 5 * 60 - 30
    elif tamper == "future":
        headers["timestamp"] = now + 5 * 60 + 30
    elif tamper == "one_byte":
        headers["signature"] = sign(body, str(now))
        body = body.replace("approve", "apProve", 1)
    elif tamper == "wrong_secret":
        headers["signature"] = sign(body, str(now), secret="not-the-secret")
    elif tamper == "no_signature":
        headers["signature"] = ""
    if tamper in {"no_timestamp", "junk_ts"}:
        ts = "" if tamper == "no_timestamp" else "soon"
        response = client.post(
            URL,
            data=body,
            content_type="application/x-www-form-urlencoded",
            headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(body, ts)},
        )
    else:
        response = post_signed(client, body, **headers)
    assert response.status_code == 401
    assert nothing_written()
    assert not SlackLinkNonce.objects.exists()
    message.change.refresh_from_db()
    assert message.change.status == ChangeStatus.PENDING


def test_a_signature_within_the_window_is_accepted(client, bob, message):
    body = form_body(click_payload(message.action_token))
    ts = int(time.time()) - 4 * 60
    response = post_signed(client, body, timestamp=ts)
    assert response.status_code == 200 and Decision.objects.count() == 1


def test_without_a_signing_secret_nothing_is_accepted(client, bob, message, settings):
    settings.SLACK_SIGNING_SECRET = None
    response = click(client, message.action_token)
    assert response.status_code == 503
    assert response.json()["error"] == "slack_not_configured"
    assert nothing_written()


def test_only_post_is_allowed(client):
    assert client.get(URL).status_code == 405


def test_a_signed_request_without_a_payload_is_a_bad_request(client, db):
    response = post_signed(client, "foo=bar")
    assert response.status_code == 400


# --- who may click -----------------------------------------------------------------


def test_an_unknown_team_is_told_and_nothing_is_written(client, bob, message):
    response = click(client, message.action_token, team="TUNKNOWN1")
    assert response.status_code == 200
    assert response.json()["text"] == NOT_CONNECTED
    assert response.json()["response_type"] == "ephemeral"
    assert nothing_written()


def test_an_unknown_button_is_refused_and_the_attempt_recorded(client, bob, message, tenant):
    response = click(client, "not-a-real-token")
    assert response.json()["text"] == UNKNOWN_BUTTON
    assert only_refusals_recorded_in(tenant)


def test_an_outsider_cannot_use_a_button_of_another_tenant(
    client, bob, message, outsider, other_tenant, other_account
):
    """Globex's linked admin presents an Acme button from Globex's workspace."""
    link(outsider, other_tenant, "U0MALLORY")
    SlackMessageFactory(change=ChangeFactory(account=other_account))
    response = click(client, message.action_token, team="TGLOBEX01", user="U0MALLORY")
    unknown = click(client, "not-a-real-token", team="TGLOBEX01", user="U0MALLORY")
    assert response.status_code == unknown.status_code == 200
    assert response.json() == unknown.json()
    assert response.json()["text"] == UNKNOWN_BUTTON
    # Recorded in Globex's chain (their user's attempt), never in Acme's.
    assert only_refusals_recorded_in(other_tenant)
    message.change.refresh_from_db()
    assert message.change.status == ChangeStatus.PENDING


def test_an_outsider_linked_elsewhere_is_unlinked_in_this_workspace(
    client, bob, message, outsider, other_tenant
):
    link(outsider, other_tenant, "U0MALLORY")
    response = click(client, message.action_token, user="U0MALLORY")
    assert "not linked" in response.json()["text"]
    assert not Decision.objects.exists()


def test_a_linked_viewer_is_refused_with_an_explanation_and_an_audit_entry(
    client, viewer, tenant, message, slack, django_capture_on_commit_callbacks
):
    link(viewer, tenant, "U0CAROL01")
    with django_capture_on_commit_callbacks(execute=True):
        response = click(
            client,
            message.action_token,
            user="U0CAROL01",
            response_url=slack.response_url("carol"),
        )
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "not an approver" in body["text"] and "admin" in body["text"]
    assert not Decision.objects.exists()
    entry = AuditEntry.objects.get()
    assert entry.action == AuditAction.DECISION_REFUSED
    assert entry.actor_id == viewer.pk and entry.object_id == str(message.change_id)
    [note] = slack.calls_to("response_url")
    assert note.body["response_type"] == "ephemeral" and "not an approver" in note.body["text"]


def test_an_unlinked_user_gets_a_one_time_link_and_nothing_changes(
    client, tenant, message, approver
):
    response = click(client, message.action_token, user="U0NEWBIE1")
    text = response.json()["text"]
    assert "https://sgportal.example.com/slack/link/" in text
    nonce = SlackLinkNonce.objects.get()
    assert (nonce.tenant, nonce.slack_user_id, nonce.team_id) == (tenant, "U0NEWBIE1", "TACME0001")
    assert not Decision.objects.exists()
    entry = AuditEntry.objects.get()
    assert entry.action == AuditAction.DECISION_REFUSED
    assert "U0NEWBIE1" in entry.actor_name


def test_an_unverified_link_counts_as_unlinked(client, approver, tenant, message):
    link(approver, tenant, "U0BOB0001", verified=False)
    response = click(client, message.action_token)
    assert "not linked" in response.json()["text"]
    assert not Decision.objects.exists()


def test_a_linked_admin_may_decide(client, admin_user, tenant, message):
    link(admin_user, tenant, "U0ALICE01")
    response = click(client, message.action_token, user="U0ALICE01")
    assert response.json()["outcome"] == "decided"
    assert Decision.objects.get().user == admin_user


def test_a_linked_superuser_without_membership_may_decide(client, superuser, tenant, message):
    link(superuser, tenant, "U0ROOT001")
    response = click(client, message.action_token, user="U0ROOT001")
    assert response.json()["outcome"] == "decided"
    assert Decision.objects.get().user == superuser


def test_approver_in_another_tenant_only_is_refused_here(
    client, viewer, tenant, other_tenant, message
):
    Membership.objects.create(user=viewer, tenant=other_tenant, role=Role.APPROVER)
    link(viewer, tenant, "U0CAROL01")
    response = click(client, message.action_token, user="U0CAROL01")
    assert "not an approver in Acme" in response.json()["text"]
    assert not Decision.objects.exists()


def test_the_click_leaves_the_change_row_whole(client, bob, message):
    """The click loads only some columns; what decide() saves must not blank the rest."""
    before = SecurityGroupChange.objects.values().get(pk=message.change_id)
    click(client, message.action_token, action="approve")
    after = SecurityGroupChange.objects.values().get(pk=message.change_id)
    changed = {name for name in before if before[name] != after[name]}
    # status_txid: the API updates feed's position, set by a database trigger (issue 14).
    assert changed == {"status", "status_changed_at", "status_txid"}
    assert after["raw"] == before["raw"] and after["rules"] and after["group_id"]


def test_an_inactive_portal_user_is_refused(client, bob, message):
    bob.is_active = False
    bob.save()
    response = click(client, message.action_token)
    assert response.json()["outcome"] == "refused"
    assert not Decision.objects.exists()


# --- duplicates and races ------------------------------------------------------------


def test_a_duplicate_delivery_is_harmless(client, bob, message, reasonless_deny):
    body = form_body(click_payload(message.action_token, action="deny"))
    first = post_signed(client, body)
    second = post_signed(client, body)  # Slack retries with the same body
    assert first.json()["outcome"] == "decided"
    assert second.status_code == 200 and second.json()["outcome"] == "duplicate"
    assert Decision.objects.count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.DECIDE).count() == 1


def test_a_second_approver_is_told_who_decided_first(client, bob, admin_user, tenant, message):
    link(admin_user, tenant, "U0ALICE01")
    click(client, message.action_token, action="approve")
    response = click(client, message.action_token, action="deny", user="U0ALICE01")
    assert "already decided by bob-approver" in response.json()["text"]
    assert Decision.objects.get().verdict == "approve"


def test_ephemeral_notes_only_go_to_slack_hosts(slack, settings):
    from approvals.tasks import send_ephemeral

    assert send_ephemeral.delay("http://169.254.169.254/latest/meta-data/", "x").get() == "refused"
    assert send_ephemeral.delay("https://evil.example.com/hook", "x").get() == "refused"
    assert send_ephemeral.delay(slack.response_url("ok"), "hello").get() == "sent"
    assert [c.body["text"] for c in slack.calls_to("response_url")] == ["hello"]


def test_a_revert_result_for_a_change_without_slack_message_is_ignored(
    change, django_capture_on_commit_callbacks
):
    from sgportal import events

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        events.revert_finished.send(
            sender=None, change_id=change.pk, attempt_id=1, outcome="reverted", detail=""
        )
    assert callbacks == []
