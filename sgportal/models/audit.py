"""The append-only, per-tenant, hash-chained audit log.

Each entry's ``hash`` is an HMAC-SHA256, keyed by ``AUDIT_HMAC_KEY`` (kept outside the
database), of its content and its predecessor's hash: whoever can write the database cannot
recompute the chain after an edit. Entries written before the keyed chain existed keep their
plain SHA-256 hashes; the chain head records where the keyed part starts
(``keyed_from_seq``), and signed checkpoints record that too.

The key can be rotated: each entry records the fingerprint of the key that MACed it
(``key_id``; blank on entries written before key ids were kept), retired keys stay readable
through ``AUDIT_HMAC_PREVIOUS_KEYS``, and a chain may only move forward through the keys
(``sgportal.audit.verify_chain``), so a retired key cannot append to it.
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


class UnknownAuditKey(Exception):
    """An entry or checkpoint names a key sgportal does not hold."""


def audit_key(purpose: str, master: str | None = None) -> bytes:
    """A key for one purpose (``entry``, ``checkpoint``, ``key-id``) derived from ``master``
    (AUDIT_HMAC_KEY by default), so an entry's MAC can never be passed off as a checkpoint's
    signature or the reverse."""
    return _derived_key(master or settings.AUDIT_HMAC_KEY, f"sgportal-audit-{purpose}-v1".encode())


def audit_key_id(master: str | None = None) -> str:
    """A short public fingerprint of a master key (AUDIT_HMAC_KEY by default)."""
    return audit_key("key-id", master).hex()[:16]


def audit_keys() -> dict[str, str]:
    """Every key held, by fingerprint, oldest first: AUDIT_HMAC_PREVIOUS_KEYS in the order
    given, then AUDIT_HMAC_KEY."""
    masters = [*getattr(settings, "AUDIT_HMAC_PREVIOUS_KEYS", ()), settings.AUDIT_HMAC_KEY]
    return {audit_key_id(master): master for master in masters}


def master_key(key_id: str) -> str:
    """The held master key with fingerprint ``key_id``; UnknownAuditKey if none."""
    try:
        return audit_keys()[key_id]
    except KeyError:
        raise UnknownAuditKey(
            f"key {key_id} is not held by sgportal (a retired key goes into "
            "AUDIT_HMAC_PREVIOUS_KEYS)"
        ) from None


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
    # Fingerprint of the key that MACed it (``audit_key_id``); blank before key rotation.
    key_id = models.CharField(max_length=16, blank=True, default="")

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
        """The hashed content: every column but the id and the hash itself (``key_id`` only
        when set, so entries written before it existed hash as they did)."""
        content = {
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
        if self.key_id:
            content["key_id"] = self.key_id
        return content

    def compute_hash(self, master: str | None = None) -> str:
        """The keyed hash: HMAC-SHA256 of the content (which holds the previous hash), with
        the key ``key_id`` names (``master`` when given; AUDIT_HMAC_KEY for a blank id).
        UnknownAuditKey when that key is not held."""
        if master is None and self.key_id:
            master = master_key(self.key_id)
        text = canonical_json(self.content()).encode()
        return hmac.new(audit_key("entry", master), text, hashlib.sha256).hexdigest()

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
