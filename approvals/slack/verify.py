"""Verification of Slack's request signature, before anything else looks at the request."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time

from django.conf import settings
from django.http import HttpRequest, JsonResponse

log = logging.getLogger(__name__)

MAX_SKEW_S = 5 * 60


def signature_ok(secret: str, body: bytes, timestamp: str | None, signature: str | None) -> bool:
    """v0 HMAC-SHA256 over ``v0:ts:body``, and a timestamp within 5 minutes either way.

    Computed over the raw bytes as they arrived: the body is never decoded here, so a
    body that is not UTF-8 is simply unsigned (slack_sdk's verifier decodes it and raises).
    """
    if not timestamp or not signature or not (timestamp.isascii() and timestamp.isdigit()):
        return False
    ts = int(timestamp)
    # Both directions: replays and clock-skewed / forged future timestamps alike.
    if abs(time.time() - ts) > MAX_SKEW_S:
        return False
    base = b"v0:" + timestamp.encode("ascii") + b":" + bytes(body)
    expected = "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    # compare_digest wants ASCII-only str (or bytes): encode whatever the header held.
    return hmac.compare_digest(
        expected.encode("ascii"), signature.encode("utf-8", errors="surrogateescape")
    )


def slack_signed(view):
    """Reject (401) any request whose raw body is not signed by Slack; 503 without a secret."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        secret = settings.SLACK_SIGNING_SECRET
        if not secret:
            log.error("SLACK_SIGNING_SECRET is not set: refusing Slack requests")
            return JsonResponse(
                {"error": "slack_not_configured", "detail": "SLACK_SIGNING_SECRET is not set."},
                status=503,
            )
        body = request.body  # raw bytes, read before any parsing
        if not signature_ok(
            secret,
            body,
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
        ):
            return JsonResponse({"error": "invalid_signature"}, status=401)
        return view(request, *args, **kwargs)

    return wrapper
