"""Slack's request signature is checked over the raw bytes: a body that is not UTF-8 is
refused like any other unsigned body (401), never a 500 with an ERROR traceback."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import pytest

from approvals.models import Decision
from approvals.slack.verify import signature_ok
from sgportal.models import AuditEntry
from tests.approvals.conftest import SIGNING_SECRET, click_payload, form_body

URL = "/slack/interactions/"


def sign_bytes(body: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def post_raw(client, body: bytes, signature: str, timestamp: str | None = None):
    return client.post(
        URL,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={
            "X-Slack-Request-Timestamp": timestamp or str(int(time.time())),
            "X-Slack-Signature": signature,
        },
    )


@pytest.mark.parametrize(
    "signature", ["v0=" + "0" * 64, "v0=not-hex", "v0=\u00e9\u00e9", "", "garbage"]
)
def test_it_refuses_a_non_utf8_body_without_a_valid_signature(
    client, db, message, slack_tenant, caplog, signature
):
    body = form_body(click_payload(message.action_token)).encode() + b"\xff\xfe"
    with caplog.at_level(logging.INFO):
        response = post_raw(client, body, signature)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_signature"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not Decision.objects.exists() and not AuditEntry.objects.exists()


def test_a_signed_non_utf8_body_is_not_a_server_error(client, db, message, slack_tenant, caplog):
    body = b"payload=%7B%22type%22%3A%22\xff%22%7D"
    ts = str(int(time.time()))
    with caplog.at_level(logging.INFO):
        response = post_raw(client, body, sign_bytes(body, ts), ts)
    assert response.status_code < 500
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not Decision.objects.exists()


def test_the_check_is_slacks_v0_hmac_over_the_raw_bytes():
    body = b"payload=\xff"
    ts = str(int(time.time()))
    assert signature_ok(SIGNING_SECRET, body, ts, sign_bytes(body, ts))
    assert not signature_ok(SIGNING_SECRET, body + b"x", ts, sign_bytes(body, ts))
    assert not signature_ok("another-secret", body, ts, sign_bytes(body, ts))
    old = str(int(time.time()) - 301)
    assert not signature_ok(SIGNING_SECRET, body, old, sign_bytes(body, old))
    assert not signature_ok(SIGNING_SECRET, body, f" {ts}", sign_bytes(body, f" {ts}"))
