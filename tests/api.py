"""Helpers for the REST API tests: one token of each kind, and the refusals every endpoint
must give (no token, a bad, an expired or a revoked one)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from sgportal.api.tokens import create_token, revoke_token
from sgportal.models import ApiToken


@dataclass
class Tokens:
    read: str  # scope read, of ``tenant``
    decide: str  # scopes read + decide, of ``tenant``
    decide_only: str  # scope decide alone, of ``tenant``
    expired: str  # read + decide, expired yesterday
    revoked: str  # read + decide, revoked
    outsider: str  # read + decide, of ``other_tenant``


def _token(tenant, name, scopes) -> str:
    return create_token(tenant, name=name, scopes=scopes, actor="test", via="cli")[1]


@pytest.fixture(name="tokens")
def tokens_fixture(tenant, other_tenant) -> Tokens:
    """One token of each kind (import ``tokens_fixture``; use the ``tokens`` argument)."""
    both = ["read", "decide"]
    expired = _token(tenant, "expired", both)
    ApiToken.objects.filter(name="expired").update(expires_at=timezone.now() - dt.timedelta(days=1))
    revoked = _token(tenant, "revoked", both)
    revoke_token(ApiToken.objects.get(name="revoked"), actor="test", via="cli")
    return Tokens(
        read=_token(tenant, "read", ["read"]),
        decide=_token(tenant, "decide", both),
        decide_only=_token(tenant, "decide-only", ["decide"]),
        expired=expired,
        revoked=revoked,
        outsider=_token(other_tenant, "outsider", both),
    )


def call(client, method: str, url: str, token: str | None, data=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "get":
        return client.get(url, data, headers=headers)
    return client.generic(
        method.upper(),
        url,
        data=b"" if data is None else __import__("json").dumps(data),
        content_type="application/json",
        headers=headers,
    )


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == code


def assert_unauthenticated(client, method: str, url: str, tokens: Tokens, data=None) -> None:
    """No token, a malformed one, a forged one, an expired one and a revoked one: all 401."""
    response = call(client, method, url, None, data)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    forged = tokens.decide[:-6] + ("000000" if tokens.decide[-6:] != "000000" else "000001")
    for bad in (tokens.expired, tokens.revoked, "sgp_short", forged):
        assert_error(call(client, method, url, bad, data), 401, "invalid_token")
    basic = client.generic(method.upper(), url, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert_error(basic, 401, "invalid_token")
