"""How a delivery is signed (Slack's scheme): HMAC-SHA256 over ``v1:{timestamp}:{body}``.

Headers sent with every delivery:

- ``X-Sgportal-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Sgportal-Signature``: ``v1=`` + hex HMAC-SHA256(secret, ``v1:{timestamp}:{body}``);
  while a rotated secret's overlap lasts, one such value per secret, comma-separated
  (the new secret's first);
- ``X-Sgportal-Event-Id`` and ``Idempotency-Key``: the event id, the same on every attempt;
- ``X-Sgportal-Event``: the event type.

A receiver recomputes the signature over the raw body, compares in constant time, and
accepts the delivery if any of the header's signatures matches, and refuses timestamps more
than 5 minutes from its clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOLERANCE_S = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = b"v1:" + str(timestamp).encode() + b":" + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def headers(
    secrets: list[str], timestamp: int, body: bytes, event_id: str, event_type: str
) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": "sgportal-webhooks/1",
        "X-Sgportal-Timestamp": str(timestamp),
        "X-Sgportal-Signature": ",".join(signature(s, timestamp, body) for s in secrets),
        "X-Sgportal-Event-Id": event_id,
        "Idempotency-Key": event_id,
        "X-Sgportal-Event": event_type,
    }


def verify(secret: str, timestamp: str, body: bytes, given: str, now: float) -> bool:
    """What a receiver does (used by our tests; documented for integrators)."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now - stamp) > TOLERANCE_S:
        return False
    expected = signature(secret, stamp, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in given.split(","))
