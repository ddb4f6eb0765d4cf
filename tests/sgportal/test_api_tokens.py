"""API tokens: format with checksum, hash-only storage, scopes, expiry, last use, revocation
that is final and audited (issue 9 finding 12), createtoken, admin showing the token once."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError, InternalError, connection, transaction
from django.utils import timezone

from sgportal.api.tokens import authenticate_token, create_token, revoke_token
from sgportal.models import ApiToken, AuditAction, AuditEntry
from sgportal.models.tokens import (
    RevokedTokenError,
    checksum,
    hash_token,
    is_well_formed,
    new_token_text,
)

TOKEN_RE = re.compile(r"^sgp_[0-9A-Za-z]{36}$")


def make(tenant, name="siem", **kwargs):
    kwargs.setdefault("actor", "test")
    kwargs.setdefault("via", "cli")
    return create_token(tenant, name=name, **kwargs)


def test_it_generates_sgp_tokens_whose_checksum_a_scanner_can_verify():
    text = new_token_text()
    assert TOKEN_RE.match(text)
    assert checksum(text[4:34]) == text[34:]
    assert is_well_formed(text)
    flipped = text[:10] + ("A" if text[10] != "A" else "B") + text[11:]
    assert not is_well_formed(flipped)
    assert not is_well_formed(text + "x")
    assert not is_well_formed("ghp_" + text[4:])


def test_it_stores_only_a_hash_and_authenticates_the_text(tenant):
    token, text = make(tenant, scopes=["read", "decide"])
    row = ApiToken.objects.get(pk=token.pk)
    assert text not in str(row.__dict__)
    assert row.token_hash == hash_token(text)
    assert row.key_id == text[4:12]
    assert row.scopes == ["decide", "read"]
    assert authenticate_token(text, "203.0.113.9") == row
    row.refresh_from_db()
    assert row.last_used_ip == "203.0.113.9"
    assert row.last_used_at is not None
    assert authenticate_token(text[:-1] + "x") is None


def test_it_refuses_expired_and_revoked_tokens_and_inactive_tenants(tenant, other_tenant):
    token, text = make(tenant, expires_days=1)
    with time_machine.travel(timezone.now() + dt.timedelta(days=1, seconds=1)):
        assert authenticate_token(text) is None
    assert authenticate_token(text) is not None
    assert revoke_token(token, actor="test", via="cli")
    assert authenticate_token(text) is None
    _, other_text = make(other_tenant)
    other_tenant.active = False
    other_tenant.save()
    assert authenticate_token(other_text) is None


def test_it_audits_a_revocation_once_and_it_stays_final(tenant):
    token, _ = make(tenant)
    assert revoke_token(token, actor="alice", via="admin")
    assert not revoke_token(token, actor="alice", via="admin")
    entries = AuditEntry.objects.filter(tenant=tenant, action=AuditAction.TOKEN_REVOKE)
    assert entries.count() == 1
    token.refresh_from_db()
    token.revoked_at = None
    with pytest.raises(RevokedTokenError):
        token.save()
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_database_refuses_to_clear_a_revocation(tenant):
    token, _ = make(tenant)
    revoke_token(token, actor="alice", via="admin")
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=None)
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert ApiToken.objects.get(pk=token.pk).revoked_at == token.revoked_at


def test_createtoken_prints_the_token_once_with_scopes_and_expiry(tenant):
    out = StringIO()
    call_command(
        "createtoken", "--tenant", "acme", "--name", "soar", "--scope", "read",
        "--scope", "decide", "--expires", "7", stdout=out,
    )  # fmt: skip
    text = out.getvalue().strip()
    assert TOKEN_RE.match(text)
    token = ApiToken.objects.get(name="soar")
    assert token.tenant == tenant
    assert token.token_hash == hash_token(text)
    assert token.scopes == ["decide", "read"]
    assert dt.timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= dt.timedelta(7)
    created = AuditEntry.objects.get(tenant=tenant, action=AuditAction.TOKEN_CREATE)
    assert text not in str(created.after)
    with pytest.raises(CommandError):
        call_command("createtoken", "--tenant", "acme", "--name", "soar", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("createtoken", "--tenant", "nope", "--name", "x", stdout=StringIO())
    assert ApiToken.objects.count() == 1


def test_createtoken_never_expiring_with_zero(tenant):
    out = StringIO()
    call_command("createtoken", "--tenant", "acme", "--name", "n", "--expires", "0", stdout=out)
    assert ApiToken.objects.get(name="n").expires_at is None


# --- admin ---------------------------------------------------------------------------


def test_the_admin_creates_a_token_and_shows_it_once(client, admin_user, tenant):
    client.force_login(admin_user)
    response = client.post(
        "/admin/sgportal/apitoken/add/",
        {"tenant": tenant.pk, "name": "siem", "token_scopes": ["read"], "expires_days": "30"},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    text = re.search(rb"sgp_[0-9A-Za-z]{36}", response.content).group().decode()
    token = ApiToken.objects.get(tenant=tenant, name="siem")
    assert token.token_hash == hash_token(text)
    assert AuditEntry.objects.filter(tenant=tenant, action=AuditAction.TOKEN_CREATE).count() == 1
    page = client.get(f"/admin/sgportal/apitoken/{token.pk}/change/")
    assert page.status_code == 200
    assert text.encode() not in page.content
    assert token.key_id.encode() in page.content


def test_the_outsider_cannot_create_a_token_for_our_tenant(client, outsider, tenant):
    client.force_login(outsider)
    response = client.post(
        "/admin/sgportal/apitoken/add/",
        {"tenant": tenant.pk, "name": "evil", "token_scopes": ["decide"], "expires_days": "30"},
    )
    assert response.status_code == 200  # the form again, with an error on tenant
    assert not ApiToken.objects.exists()


def test_the_admin_revokes_for_good_and_cannot_undo_it(client, admin_user, tenant):
    token, text = make(tenant)
    client.force_login(admin_user)
    url = f"/admin/sgportal/apitoken/{token.pk}/change/"
    response = client.post(url, {"revoke": "on"})
    assert response.status_code == 302
    token.refresh_from_db()
    revoked_at = token.revoked_at
    assert revoked_at is not None
    assert AuditEntry.objects.filter(tenant=tenant, action=AuditAction.TOKEN_REVOKE).count() == 1
    # Trying to undo it through the form: there is no field for it, nothing changes.
    response = client.post(url, {"revoke": "", "revoked_at_0": "", "revoked_at_1": ""})
    token.refresh_from_db()
    assert token.revoked_at == revoked_at
    assert authenticate_token(text) is None
    assert (
        client.post(f"/admin/sgportal/apitoken/{token.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_the_outsider_cannot_see_or_revoke_our_token(client, outsider, tenant):
    token, text = make(tenant)
    client.force_login(outsider)
    listing = client.get("/admin/sgportal/apitoken/")
    assert token.key_id.encode() not in listing.content
    response = client.post(f"/admin/sgportal/apitoken/{token.pk}/change/", {"revoke": "on"})
    assert response.status_code == 302
    client.post(
        "/admin/sgportal/apitoken/",
        {"action": "revoke_selected", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is None
    assert authenticate_token(text) is not None
    assert not AuditEntry.objects.filter(action=AuditAction.TOKEN_REVOKE).exists()


@pytest.mark.postgres
def test_the_trigger_exists_on_postgresql(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_trigger WHERE tgname = 'sgportal_apitoken_revocation_final'"
        )
        assert cursor.fetchone()
