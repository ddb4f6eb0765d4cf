"""Token actions: create (the text is returned once), revoke (final, audited), authenticate."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from sgportal.audit import actor_name_of, record_audit
from sgportal.models import ApiToken, AuditAction, Tenant
from sgportal.models.tokens import (
    Scope,
    hash_token,
    is_well_formed,
    key_id_of,
    new_token_text,
)

DEFAULT_EXPIRY_DAYS = 90
# last_used_at / last_used_ip are written at most this often per token (one UPDATE per
# request would make every API read a write).
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


class TokenError(Exception):
    """A token cannot be created as asked."""


def create_token(
    tenant: Tenant,
    *,
    name: str,
    scopes: list[str] | None = None,
    expires_days: int | None = DEFAULT_EXPIRY_DAYS,
    actor: Any,
    via: str,
) -> tuple[ApiToken, str]:
    """Store a new token for ``tenant`` (its hash only) and audit it; returns the token row and
    its text, which nobody can see again. ``expires_days`` None or 0: never expires."""
    scopes = sorted(set(scopes or [Scope.READ]))
    unknown = set(scopes) - set(Scope.values)
    if unknown:
        raise TokenError(f"Unknown scope(s): {', '.join(sorted(unknown))}.")
    if expires_days is not None and expires_days < 0:
        raise TokenError("--expires must be 0 (never) or a number of days.")
    if ApiToken.objects.filter(tenant=tenant, name=name).exists():
        raise TokenError(f"Tenant {tenant.slug!r} already has a token named {name!r}.")
    text = new_token_text()
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            tenant=tenant,
            name=name,
            key_id=key_id_of(text),
            token_hash=hash_token(text),
            scopes=scopes,
            expires_at=now + dt.timedelta(days=expires_days) if expires_days else None,
            created_by_name=actor_name_of(actor)[:300],
        )
        record_audit(
            tenant,
            AuditAction.TOKEN_CREATE,
            actor=actor,
            via=via,
            obj=token,
            after={
                "name": name,
                "scopes": scopes,
                "key_id": token.key_id,
                "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            },
        )
    return token, text


def revoke_token(token: ApiToken, *, actor: Any, via: str) -> bool:
    """Revoke ``token`` for good and audit it as a revocation; False if it already was."""
    now = timezone.now()
    with transaction.atomic():
        claimed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by_name=actor_name_of(actor)[:300]
        )
        if not claimed:
            return False
        record_audit(
            token.tenant_id,
            AuditAction.TOKEN_REVOKE,
            actor=actor,
            via=via,
            obj=token,
            before={"revoked_at": None},
            after={"revoked_at": now.isoformat(), "key_id": token.key_id},
        )
    token.revoked_at = now
    return True


def authenticate_token(text: str, client_ip: str | None = None) -> ApiToken | None:
    """The usable token with this text (not revoked, not expired, tenant active), noting when
    and from where it was used; None for anything else."""
    if not is_well_formed(text):
        return None
    token = ApiToken.objects.usable().select_related("tenant").filter(token_hash=hash_token(text))
    token = token.first()
    if token is None:
        return None
    _note_use(token, client_ip)
    return token


def _note_use(token: ApiToken, client_ip: str | None) -> None:
    now = timezone.now()
    stale = models.Q(last_used_at__isnull=True) | models.Q(
        last_used_at__lt=now - LAST_USED_RESOLUTION
    )
    if client_ip:
        stale |= ~models.Q(last_used_ip=client_ip) | models.Q(last_used_ip__isnull=True)
    ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now, last_used_ip=client_ip)
    token.last_used_at, token.last_used_ip = now, client_ip
