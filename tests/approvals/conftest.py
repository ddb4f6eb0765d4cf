"""Fixtures for approvals: eager Celery, a Slack stand-in, Slack-signed requests."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from approvals.slack.blocks import DENY_REASON_CALLBACK, REASON_ACTION, REASON_BLOCK
from sgportal.models import SlackIdentity
from tests.approvals.factories import ChangeFactory, SlackMessageFactory

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _approvals_settings(settings):
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.SLACK_CHANNEL_INTERVAL_S = 0  # pacing has its own test
    settings.SITE_URL = "https://sgportal.example.com"


@pytest.fixture(autouse=True)
def celery_eager(celery_eager):
    """Every approvals test runs tasks in-process (the network boundary, Slack, is the
    stand-in)."""
    return celery_eager


@pytest.fixture
def slack_tenant(tenant, slack):
    """``tenant`` with a working Slack configuration pointing at the stand-in."""
    workspace = tenant.slack_workspace
    workspace.bot_token = "xoxb-acme-bot-token"
    workspace.status = "ok"
    workspace.save()
    return tenant


@pytest.fixture
def reasonless_deny(tenant):
    """``tenant`` with ``deny_reason_required`` off, so a Slack Deny button (which cannot
    carry a reason) decides; tests of the switch itself leave it on (the default)."""
    type(tenant).objects.filter(pk=tenant.pk).update(deny_reason_required=False)
    tenant.deny_reason_required = False
    return tenant


@pytest.fixture
def change(account):
    return ChangeFactory(account=account)


@pytest.fixture
def message(change):
    return SlackMessageFactory(
        change=change, channel="CACME0001", ts="1789372800.000100", status="posted"
    )


def link(user, tenant, slack_user_id: str, *, verified: bool = True) -> SlackIdentity:
    from django.utils import timezone

    return SlackIdentity.objects.create(
        tenant=tenant,
        team_id=tenant.slack_workspace.team_id,
        slack_user_id=slack_user_id,
        user=user,
        verified_at=timezone.now() if verified else None,
        linked_via="test",
    )


def click_payload(
    token: str,
    *,
    action: str = "approve",
    team: str = "TACME0001",
    user: str = "U0BOB0001",
    response_url: str | None = None,
) -> dict:
    payload = copy.deepcopy(json.loads((FIXTURES / "block_actions.json").read_text()))
    payload["team"]["id"] = team
    payload["user"]["team_id"] = team
    payload["user"]["id"] = user
    payload["actions"][0]["action_id"] = action
    payload["actions"][0]["value"] = token
    # Never Slack's real hooks host from a test: the stand-in's, or one nobody may call.
    payload["response_url"] = response_url or "http://127.0.0.1:9/response/unused"
    return payload


def sign(body: str, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    """Exactly as Slack signs: v0=HMAC-SHA256(secret, "v0:{ts}:{body}")."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def form_body(payload: dict) -> str:
    return urlencode({"payload": json.dumps(payload)})


def post_signed(client, body: str, *, timestamp: int | None = None, signature: str | None = None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return client.post(
        "/slack/interactions/",
        data=body.encode(),
        content_type="application/x-www-form-urlencoded",
        headers={
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature if signature is not None else sign(body, ts),
        },
    )


def click(client, token: str, **kwargs):
    return post_signed(client, form_body(click_payload(token, **kwargs)))


def submission_payload(
    metadata: dict | str,
    reason: str | None,
    *,
    team: str = "TACME0001",
    user: str = "U0BOB0001",
    callback_id: str = DENY_REASON_CALLBACK,
) -> dict:
    """A ``view_submission`` as Slack sends it when the reason modal's submit is pressed."""
    values = {}
    if reason is not None:
        values = {REASON_BLOCK: {REASON_ACTION: {"type": "plain_text_input", "value": reason}}}
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "acme"},
        "user": {"id": user, "username": "bob", "name": "bob", "team_id": team},
        "api_app_id": "A0SGPORTAL",
        "token": "verification-token-deprecated",
        "trigger_id": "1234567890123.1234567890123.fedcba",
        "view": {
            "id": "V0MODAL001",
            "team_id": team,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata if isinstance(metadata, str) else json.dumps(metadata),
            "state": {"values": values},
            "hash": "1789372830.abcdef",
        },
        "response_urls": [],
    }


def submit(client, metadata, reason, **kwargs):
    return post_signed(client, form_body(submission_payload(metadata, reason, **kwargs)))


@pytest.fixture(autouse=True)
def without_remediation():
    """These tests stop at the approvals stage: a deny leaves the change ``denied``.
    The whole flow, remediation included, is tested in tests/e2e/test_flow.py."""
    from remediation import receivers
    from sgportal import events

    uid = "remediation.on_change_decided"
    events.change_decided.disconnect(dispatch_uid=uid)
    yield
    events.change_decided.connect(receivers.on_change_decided, dispatch_uid=uid)
