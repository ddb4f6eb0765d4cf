"""API tokens: one tenant each, with scopes and an expiry; only a hash of the token is stored.

A token reads ``sgp_`` + 30 random base62 characters + a 6-character base62 CRC32 of
those 30 (GitHub's format): secret scanners recognise a leaked one by its prefix, and a
mistyped one is refused by its checksum without a database lookup. The full token is
shown once; the database keeps its SHA-256 (the token carries ~178 random bits, so a
fast hash is enough) and its first characters, to tell tokens apart in lists.
Revocation is final: once ``revoked_at`` is set, nothing (not the admin, not an UPDATE on
the database, where a trigger refuses it) can clear or move it.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import zlib

from django.db import models
from django.utils import timezone

from sgportal.models.tenancy import Tenant
from sgportal.tenancy import TenantScopedQuerySet

TOKEN_PREFIX = "sgp_"  # noqa: S105 (a label, not a secret)
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
RANDOM_CHARS = 30
CHECKSUM_CHARS = 6
TOKEN_LENGTH = len(TOKEN_PREFIX) + RANDOM_CHARS + CHECKSUM_CHARS
KEY_ID_CHARS = 8  # shown in lists: "sgp_AbCd1234…"


class Scope(models.TextChoices):
    READ = "read", "Read"
    DECIDE = "decide", "Decide"


class RevokedTokenError(Exception):
    """Raised on any attempt to change a revoked token's revocation."""


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        chars.append(BASE62[digit])
    return "".join(reversed(chars))


def checksum(random_part: str) -> str:
    """The 6-character base62 CRC32 of the token's random part."""
    return _base62(zlib.crc32(random_part.encode()), CHECKSUM_CHARS)


def new_token_text() -> str:
    """A fresh ``sgp_…`` token (not stored anywhere)."""
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_CHARS))
    return f"{TOKEN_PREFIX}{random_part}{checksum(random_part)}"


def is_well_formed(text: str) -> bool:
    """Prefix, length, alphabet and checksum are right (says nothing about validity)."""
    if len(text) != TOKEN_LENGTH or not text.startswith(TOKEN_PREFIX):
        return False
    body = text[len(TOKEN_PREFIX) :]
    if any(c not in BASE62 for c in body):
        return False
    random_part, check = body[:RANDOM_CHARS], body[RANDOM_CHARS:]
    return secrets.compare_digest(checksum(random_part), check)


def hash_token(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def key_id_of(text: str) -> str:
    return text[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + KEY_ID_CHARS]


class ApiTokenQuerySet(TenantScopedQuerySet):
    def usable(self) -> ApiTokenQuerySet:
        """Tokens neither revoked nor expired, of active tenants."""
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, tenant__active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A bearer token for the REST API, bound to one tenant, with scopes and an expiry."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(
        max_length=16, help_text="The token's first characters after sgp_, to recognise it."
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_by_name = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by_name = models.CharField(max_length=300, blank=True)

    objects = ApiTokenQuerySet.as_manager()
    audit_masked_fields = ("token_hash",)  # never in an audit snapshot

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_token_name")]

    def __str__(self) -> str:
        return f"{self.name} ({TOKEN_PREFIX}{self.key_id}…)"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values_list("revoked_at", flat=True)
            was = stored.first()
            if was is not None and self.revoked_at != was:
                raise RevokedTokenError("A revoked token stays revoked.")
        super().save(*args, **kwargs)

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
