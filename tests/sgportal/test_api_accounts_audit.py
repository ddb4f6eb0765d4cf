"""GET /api/v1/accounts/ and /api/v1/audit/: the token's tenant only, read scope, JSON errors."""

from __future__ import annotations

import pytest

from sgportal.audit import record_audit
from sgportal.models import AuditAction, AuditEntry, AwsAccount
from tests.api import assert_error, assert_unauthenticated, call, tokens_fixture  # noqa: F401


@pytest.fixture
def accounts(account, other_account):
    return account, other_account


def test_it_lists_the_tenants_accounts_only(client, tokens, accounts):
    account, other = accounts
    body = call(client, "get", "/api/v1/accounts/", tokens.read).json()
    assert [a["account_id"] for a in body["results"]] == [account.account_id]
    outsider = call(client, "get", "/api/v1/accounts/", tokens.outsider).json()
    assert [a["account_id"] for a in outsider["results"]] == [other.account_id]


def test_an_account_says_whether_it_is_verified(client, tokens, accounts):
    account, other = accounts
    AwsAccount.objects.filter(pk=other.pk).update(verified_at=None)
    (ours,) = call(client, "get", "/api/v1/accounts/", tokens.read).json()["results"]
    assert ours["verified_at"] == account.verified_at.isoformat().replace("+00:00", "Z")
    (theirs,) = call(client, "get", "/api/v1/accounts/", tokens.outsider).json()["results"]
    assert theirs["verified_at"] is None


def test_another_tenants_account_is_a_404_like_a_missing_one(client, tokens, accounts):
    account, _ = accounts
    assert call(client, "get", f"/api/v1/accounts/{account.pk}/", tokens.read).status_code == 200
    assert_error(
        call(client, "get", f"/api/v1/accounts/{account.pk}/", tokens.outsider), 404, "not_found"
    )
    assert_error(call(client, "get", "/api/v1/accounts/999999/", tokens.read), 404, "not_found")


def test_accounts_refuse_bad_tokens_and_a_token_without_read(client, tokens, accounts):
    account, _ = accounts
    for url in ("/api/v1/accounts/", f"/api/v1/accounts/{account.pk}/"):
        assert_unauthenticated(client, "get", url, tokens)
        assert_error(call(client, "get", url, tokens.decide_only), 403, "missing_scope")


def test_accounts_are_read_only(client, tokens, accounts):
    account, _ = accounts
    response = call(client, "delete", f"/api/v1/accounts/{account.pk}/", tokens.decide)
    assert_error(response, 405, "method_not_allowed")
    account.refresh_from_db()


def test_the_audit_log_pages_in_chain_order_for_the_tenant_only(
    client, tokens, tenant, other_tenant
):
    for n in range(5):
        record_audit(tenant, AuditAction.UPDATE, actor="t", object_type="x", object_id=n)
    record_audit(other_tenant, AuditAction.UPDATE, actor="t", object_type="secret-of-globex")
    seen, cursor = [], ""
    for _ in range(10):
        body = call(
            client, "get", "/api/v1/audit/", tokens.read, {"cursor": cursor, "page_size": 3}
        ).json()
        seen += [e["seq"] for e in body["results"]]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    expected = list(
        AuditEntry.objects.filter(tenant=tenant).order_by("seq").values_list("seq", flat=True)
    )
    assert seen == expected
    assert "secret-of-globex" not in str(
        call(client, "get", "/api/v1/audit/", tokens.read, {"page_size": 1000}).json()
    )
    again = call(client, "get", "/api/v1/audit/", tokens.read, {"cursor": cursor}).json()
    assert again["results"] == [] and again["next_cursor"] == cursor
    outsider = call(client, "get", "/api/v1/audit/", tokens.outsider, {"object_type": "x"}).json()
    assert outsider["results"] == []
    assert_unauthenticated(client, "get", "/api/v1/audit/", tokens)
    assert_error(call(client, "get", "/api/v1/audit/", tokens.decide_only), 403, "missing_scope")


def test_it_refuses_a_bad_cursor_and_page_size(client, tokens):
    assert_error(
        call(client, "get", "/api/v1/audit/", tokens.read, {"cursor": "nope"}),
        400,
        "validation_error",
    )
    for size in ("0", "1001", "x"):
        response = call(client, "get", "/api/v1/audit/", tokens.read, {"page_size": size})
        assert_error(response, 400, "validation_error")
    assert (
        call(client, "get", "/api/v1/audit/", tokens.read, {"page_size": "1000"}).status_code == 200
    )
