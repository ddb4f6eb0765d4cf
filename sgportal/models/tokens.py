"""API tokens: one tenant each, with scopes; only a hash of the secret is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import models

from sgportal.models.tenancy import Tenant
from sgportal.tenancy import TenantScopedQuerySet

TOKEN_PREFIX = "sgp"  # noqa: S105 (a label, not a secret)


class Scope(models.TextChoices):
    READ = "read", "Read"
    DECIDE = "decide", "Decide"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for the REST API, bound to one tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by_name = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_token_name")]

    def __str__(self) -> str:
        return f"{self.name} ({TOKEN_PREFIX}_{self.key_id}_…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """(key_id, secret, full token text)."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        return key_id, secret, f"{TOKEN_PREFIX}_{key_id}_{secret}"

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hash_secret(secret))
