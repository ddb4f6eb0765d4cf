"""The Slack stand-in's page (devtools.slack_page): sgportal's real messages rendered as
Slack lays them out, and a click on its buttons sent to sgportal as Slack would send it."""

from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import parse_qs, urlencode

import pytest
from django.utils import timezone

from approvals.models import Decision, SlackMessage, Verdict, Via
from approvals.slack.blocks import build_blocks
from approvals.slack.delivery import deliver, refresh
from approvals.slack.verify import signature_ok
from devtools.slack_page import (
    Message,
    User,
    Workspace,
    mrkdwn,
    render_page,
    sign,
    signed_request,
)
from devtools.slack_standin import SlackStandin
from sgportal.models import AuditAction, AuditEntry
from tests.approvals.factories import ChangeFactory, SlackMessageFactory
from tests.factories import SlackIdentityFactory

SECRET = "page-test-signing-secret"  # noqa: S105


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (local stand-in)
        return response.read().decode()


def _post_form(url: str, data: dict) -> int:
    request = urllib.request.Request(url, data=urlencode(data).encode(), method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 (follows the 303)
        return response.status


@pytest.fixture
def slack_tenant(tenant):
    workspace = tenant.slack_workspace
    workspace.bot_token = "xoxb-TACME0001-page"  # noqa: S105
    workspace.save(update_fields=["bot_token"])
    return tenant


def _posted_message(slack_tenant, account, **change) -> SlackMessage:
    """A change's message posted to the stand-in through sgportal's own delivery."""
    message = SlackMessageFactory(
        change=ChangeFactory(account=account, **change), due_at=timezone.now()
    )
    assert deliver(message.pk).state == "posted"
    message.refresh_from_db()
    return message


def test_the_page_renders_sgportal_blocks_as_slack_would(
    slack, slack_tenant, account, reasonless_deny
):
    message = _posted_message(
        slack_tenant,
        account,
        group_name="<script>alert(1)</script>",
        actor_arn="arn:aws:iam::111111111111:user/<b>x</b>",
    )
    page = _get(slack.page_url)
    blocks = build_blocks(message)
    header = blocks[0]["text"]["text"]
    assert header.startswith("Critical") or ":" in header
    assert '<div class="block header">' in page and "AuthorizeSecurityGroupIngress" in page
    assert '<div class="fields">' in page and "<b>Account</b>" in page and "<b>Region</b>" in page
    assert "prod-payments" in page and "us-east-1" in page
    assert '<div class="block context">' in page and ">Open in sgportal</a>" in page
    # Both buttons: Approve submits at once; Deny opens Slack's confirm dialog first.
    assert 'data-action="approve"' in page and ">Approve</button>" in page
    assert 'data-action="deny"' in page and '<dialog id="confirm-' in page
    assert "Deny this change?" in page and 'data-confirm="deny"' in page
    # What a person typed reaches the page as text, never as markup.
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page
    assert f'data-ts="{message.ts}"' in page and "(edited)" not in page


@pytest.fixture
def reasonless_deny(tenant):
    """The tenant's deny_reason_required off: Deny has Slack's confirm dialog, no modal."""
    type(tenant).objects.filter(pk=tenant.pk).update(deny_reason_required=False)
    return tenant


@pytest.mark.django_db(transaction=True)
def test_deny_opens_the_reason_modal_and_its_submission_decides(
    live_server, settings, slack_tenant, account, approver, viewer
):
    """The switch on (the default): Deny has no confirm dialog; sgportal opens its modal
    through the stand-in's views.open, the page shows it with the text box, and submitting
    sends a signed view_submission: an empty reason is sent back as a field error, a reason
    denies."""
    settings.SLACK_SIGNING_SECRET = SECRET
    for user, slack_id in ((approver, "U0DEMOREV1"), (viewer, "U0DEMOVIEW")):
        SlackIdentityFactory(
            tenant=slack_tenant, slack_user_id=slack_id, user=user, verified_at=timezone.now()
        )
    with SlackStandin(
        interactions_url=f"{live_server.url}/slack/interactions/",
        signing_secret=SECRET,
        team_id=slack_tenant.slack_workspace.team_id,
    ) as standin:
        settings.SLACK_API_URL = standin.base_url
        settings.SLACK_RESPONSE_URL_HOSTS = [standin.origin]
        standin.workspace.users.append(User("U0DEMOVIEW", "viewer"))
        message = _posted_message(slack_tenant, account)
        page = _get(standin.page_url)
        assert 'data-action="deny"' in page and '<dialog id="confirm-' not in page
        assert '<dialog class="modal"' not in page

        form = {"channel": message.channel, "ts": message.ts, "action_id": "deny"}
        assert _post_form(f"{standin.page_url}_click", {**form, "user": "U0DEMOREV1"}) == 200
        assert '"outcome": "modal"' in standin.workspace.last_click
        [opened] = standin.calls_to("views.open")
        assert opened.token == slack_tenant.slack_workspace.bot_token
        [modal] = standin.workspace.modals
        assert modal.user_id == "U0DEMOREV1"  # the trigger of this user's click
        page = _get(standin.page_url)
        assert '<dialog class="modal"' in page and "Deny change" in page
        assert '<textarea name="input:reason"' in page and 'maxlength="1000"' in page
        assert f'data-submit="{modal.id}"' in page and ">Deny and revert</button>" in page
        assert not Decision.objects.exists()

        # Whitespace only: sgportal answers errors, the page shows them, the modal stays.
        submit_url = f"{standin.page_url}_submit"
        assert _post_form(submit_url, {"view_id": modal.id, "input:reason": "  "}) == 200
        assert standin.workspace.modals == [modal] and "reason" in modal.errors["reason"]
        assert 'class="field-error"' in _get(standin.page_url)
        assert not Decision.objects.exists()

        _post_form(submit_url, {"view_id": modal.id, "input:reason": "SSH to the world"})
        assert '"response_action": "clear"' in standin.workspace.last_click
        assert standin.workspace.modals == []
        decision = Decision.objects.get(change=message.change_id)
        assert (decision.verdict, decision.via, decision.user, decision.reason) == (
            Verdict.DENY,
            Via.SLACK,
            approver,
            "SSH to the world",
        )
        assert '<dialog class="modal"' not in _get(standin.page_url)

        # A viewer: no modal, a private note instead; nothing decided.
        second = _posted_message(slack_tenant, account, event_id="second-event")
        form = {"channel": second.channel, "ts": second.ts, "action_id": "deny"}
        _post_form(f"{standin.page_url}_click", {**form, "user": "U0DEMOVIEW"})
        assert '"outcome": "refused"' in standin.workspace.last_click
        assert standin.workspace.modals == [] and len(standin.calls_to("views.open")) == 1

        # Cancel closes a modal without telling sgportal.
        _post_form(f"{standin.page_url}_click", {**form, "user": "U0DEMOREV1"})
        [cancelled] = standin.workspace.modals
        calls = len(standin.calls)
        _post_form(f"{standin.page_url}_close", {"view_id": cancelled.id})
        assert standin.workspace.modals == [] and len(standin.calls) == calls
        assert not Decision.objects.filter(change=second.change_id).exists()


def test_mrkdwn_formatting_links_dates_and_emoji():
    html = mrkdwn(
        "*Who* _did_ ~it~ `a<b>` :white_check_mark: <https://x.example/a?b=1&amp;c=2|Open> "
        "<!date^1700000000^{date_short_pretty}|2023-11-14 22:13 UTC> &lt;!channel&gt;"
    )
    assert "<b>Who</b> <i>did</i> <s>it</s>" in html
    assert "<code>a&lt;b&gt;</code>" in html and "✅" in html
    assert '<a href="https://x.example/a?b=1&amp;c=2"' in html and ">Open</a>" in html
    assert '<time class="date">2023-11-14 22:13 UTC</time>' in html
    assert "&lt;!channel&gt;" in html  # escaped by the sender: stays text
    assert 'href="javascript' not in mrkdwn("<javascript:alert(1)|x>")


def test_the_signature_is_slacks_v0_and_sgportal_verifies_it():
    body = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
    ts = str(int(time.time()))
    signature = sign(SECRET, ts, body)
    assert signature.startswith("v0=") and signature_ok(SECRET, body, ts, signature)
    assert not signature_ok("another-secret", body, ts, signature)
    request = signed_request(SECRET, "http://127.0.0.1:1/slack/interactions/", {"a": 1})
    assert request.headers["Content-type"] == "application/x-www-form-urlencoded"
    assert json.loads(parse_qs(request.data.decode())["payload"][0]) == {"a": 1}
    assert signature_ok(
        SECRET,
        request.data,
        request.headers["X-slack-request-timestamp"],
        request.headers["X-slack-signature"],
    )


def test_thread_replies_updates_and_notes_show_under_their_message():
    workspace = Workspace()
    workspace.posted({"channel": "C1", "text": "first", "blocks": []}, "1.000001")
    workspace.posted({"channel": "C1", "text": "a reminder", "thread_ts": "1.000001"}, "1.000002")
    assert workspace.updated({"channel": "C1", "ts": "1.000001", "text": "first, updated"})
    workspace.responded("C1", "1.000001", {"text": "Only *you* see this"})
    assert not workspace.updated({"channel": "C1", "ts": "9.9", "text": "nobody"})
    page = render_page(workspace)
    assert len(workspace.messages) == 1 and workspace.messages[0].replies[0].text == "a reminder"
    assert "first, updated" in page and "(edited)" in page and "1 reply" in page
    assert "Only visible to you" in page and "Only <b>you</b> see this" in page


@pytest.mark.django_db(transaction=True)
def test_a_click_sends_a_signed_request_that_sgportal_accepts(
    live_server, settings, slack_tenant, account, approver, outsider, other_tenant
):
    settings.SLACK_SIGNING_SECRET = SECRET
    SlackIdentityFactory(
        tenant=slack_tenant, slack_user_id="U0DEMOREV1", user=approver, verified_at=timezone.now()
    )
    with SlackStandin(
        interactions_url=f"{live_server.url}/slack/interactions/",
        signing_secret=SECRET,
        team_id=slack_tenant.slack_workspace.team_id,
    ) as standin:
        settings.SLACK_API_URL = standin.base_url
        settings.SLACK_RESPONSE_URL_HOSTS = [standin.origin]
        message = _posted_message(slack_tenant, account)
        assert 'data-action="approve"' in _get(standin.page_url)
        form = {"channel": message.channel, "ts": message.ts, "action_id": "approve"}
        assert _post_form(f"{standin.page_url}_click", {**form, "user": "U0DEMOREV1"}) == 200

        decision = Decision.objects.get(change=message.change_id)
        assert (decision.verdict, decision.via, decision.user) == (
            Verdict.APPROVE,
            Via.SLACK,
            approver,
        )
        assert "sgportal answered 200" in standin.workspace.last_click
        assert '"outcome": "decided"' in standin.workspace.last_click
        # The worker's chat.update (run here) reaches the page: decided, no buttons left.
        assert refresh(message.change_id).state == "updated"
        page = _get(standin.page_url)
        assert "(edited)" in page and "Approved by" in page and 'data-action="approve"' not in page

        # An unlinked Slack user's click is refused, and sgportal tells them privately (its
        # response_url note reaches the page through the stand-in).
        second = _posted_message(slack_tenant, account, event_id="second-event")
        form = {"channel": second.channel, "ts": second.ts, "action_id": "deny"}
        _post_form(f"{standin.page_url}_click", {**form, "user": "U0DEMONEW1"})
        assert '"outcome": "refused"' in standin.workspace.last_click
        assert not Decision.objects.filter(change=second.change_id).exists()

        # The outsider's workspace clicking this tenant's button: refused, nothing decided.
        standin.workspace.team_id = other_tenant.slack_workspace.team_id
        _post_form(f"{standin.page_url}_click", {**form, "user": "U0DEMOREV1"})
        assert '"outcome": "refused"' in standin.workspace.last_click
        assert not Decision.objects.filter(change=second.change_id).exists()
        assert not Decision.objects.filter(user=outsider).exists()

        # A wrong signing secret: sgportal refuses the request itself.
        standin.workspace.team_id = slack_tenant.slack_workspace.team_id
        standin.workspace.signing_secret = "not-the-apps-secret"  # noqa: S105
        _post_form(f"{standin.page_url}_click", {**form, "user": "U0DEMOREV1"})
        assert "sgportal answered 401" in standin.workspace.last_click
        assert "invalid_signature" in standin.workspace.last_click
        assert not Decision.objects.filter(change=second.change_id).exists()
        assert AuditEntry.objects.filter(
            tenant=slack_tenant, action=AuditAction.DECISION_REFUSED
        ).exists()


def test_a_message_without_the_button_reports_it():
    workspace = Workspace(interactions_url="http://127.0.0.1:1/", signing_secret=SECRET)
    workspace.messages.append(Message("C1", "1.1", "hi", []))
    from devtools.slack_page import click

    assert "No button 'deny'" in click(workspace, "C1", "1.1", "deny", "U0DEMOREV1")
