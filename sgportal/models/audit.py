"""The append-only, per-tenant, hash-chained audit log.

Each entry's ``hash`` is an HMAC-SHA256, keyed by ``AUDIT_HMAC_KEY`` (kept outside the
database), of its content and its predecessor's hash: whoever can write the database cannot
recompute the chain after an edit. Entries written before the keyed chain existed keep their
plain SHA-256 hashes; the chain head records where the keyed part starts
(``keyed_from_seq``), and signed checkpoints record that too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import cache

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from sgportal.models.tenancy import Tenant
from sgportal.tenancy import TenantScopedQuerySet

GENESIS_HASH = "0" * 64


@cache
def _derived_key(master: str, purpose: bytes) -> bytes:
    return hmac.new(master.encode(), purpose, hashlib.sha256).digest()


def audit_key(purpose: str) -> bytes:
    """A key for one purpose (``entry``, ``checkpoint``, ``key-id``) derived from AUDIT_HMAC_KEY,
    so an entry's MAC can never be passed off as a checkpoint's signature or the reverse."""
    return _derived_key(settings.AUDIT_HMAC_KEY, f"sgportal-audit-{purpose}-v1".encode())


def audit_key_id() -> str:
    """A short public fingerprint of AUDIT_HMAC_KEY (names the key a checkpoint was signed with)."""
    return audit_key("key-id").hex()[:16]


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"
    DECIDE = "decide", "Decision taken"
    DECISION_REFUSED = "decision_refused", "Decision refused"
    REVERT_ATTEMPT = "revert_attempt", "Revert attempted"
    REVERT_RESULT = "revert_result", "Revert finished"
    SLACK_LINK = "slack_link", "Slack identity linked"
    TOKEN_CREATE = "token_create", "API token created"
    TOKEN_REVOKE = "token_revoke", "API token revoked"
    LOGIN = "login", "Logged in"
    LOGIN_FAILED = "login_failed", "Login failed"
    PASSWORD_CHANGE = "password_change", "Password changed"
    INGEST_REJECTED = "ingest_rejected", "Ingestion request rejected"


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove an audit entry."""


class AuditQuerySet(TenantScopedQuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit entries are append-only: UPDATE refused.")

    def delete(self):
        raise AppendOnlyError("Audit entries are append-only: DELETE refused.")

    _raw_delete = delete


def canonical_json(value) -> str:
    """Stable JSON text: sorted keys, no spaces, Django's encoder for dates and decimals."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)


def normalize_json(value):
    """What a JSON column will hand back for ``value`` (so what we hash is what we store)."""
    return None if value is None else json.loads(canonical_json(value))


class AuditEntry(models.Model):
    """One recorded action; each entry hashes its content together with its predecessor's hash."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="audit_entries")
    seq = models.PositiveBigIntegerField()
    created_at = models.DateTimeField()
    # Not a foreign key: deleting a user must not rewrite (SET NULL) the log.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=300)
    via = models.CharField(max_length=20)
    request_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=30, choices=AuditAction.choices)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "seq"]
        verbose_name_plural = "audit entries"
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="uniq_audit_seq")]

    def __str__(self) -> str:
        return (
            f"#{self.seq} {self.action} {self.object_type} {self.object_repr} by {self.actor_name}"
        )

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit entries are append-only: UPDATE refused.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit entries are append-only: DELETE refused.")

    def content(self) -> dict:
        """The hashed content: every column but the id and the hash itself."""
        return {
            "tenant": self.tenant_id,
            "seq": self.seq,
            "created_at": self.created_at.isoformat(),
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "via": self.via,
            "request_id": self.request_id,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "object_repr": self.object_repr,
            "before": self.before,
            "after": self.after,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        """The keyed hash: HMAC-SHA256 of the content (which holds the previous hash)."""
        text = canonical_json(self.content()).encode()
        return hmac.new(audit_key("entry"), text, hashlib.sha256).hexdigest()

    def compute_legacy_hash(self) -> str:
        """The plain SHA-256 of entries written before the keyed chain started."""
        return hashlib.sha256(canonical_json(self.content()).encode()).hexdigest()


class AuditChainHeadQuerySet(models.QuerySet):
    def delete(self):
        raise AppendOnlyError("Audit chain heads cannot be deleted.")

    _raw_delete = delete


class AuditChainHead(models.Model):
    """The last (seq, hash) of a tenant's chain: the lock writers take, and the anchor that
    signed checkpoints copy so ``verify_audit`` notices entries cut from the end of the chain."""

    tenant = models.OneToOneField(Tenant, on_delete=models.PROTECT, related_name="audit_head")
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    # First seq hashed with the HMAC; entries before it predate the keyed chain (migration 0004).
    keyed_from_seq = models.PositiveBigIntegerField(default=1)

    objects = AuditChainHeadQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.tenant} audit head #{self.seq}"

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit chain heads cannot be deleted.")
