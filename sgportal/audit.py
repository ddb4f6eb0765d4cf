"""Writing and verifying the audit log.

``record_audit`` appends one entry to a tenant's hash chain inside the caller's
transaction: it locks the tenant's chain head (SELECT … FOR UPDATE), so concurrent writers
queue up instead of forking the chain, and the entry commits or rolls back with the
action it records. ``verify_chain`` recomputes every hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from sgportal.context import current_request_id
from sgportal.fields import EncryptedTextField
from sgportal.models import AuditChainHead, AuditEntry, Tenant
from sgportal.models.audit import GENESIS_HASH, normalize_json

MASK = "********"


def actor_name_of(actor: Any) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    email = getattr(actor, "email", "")
    username = actor.get_username() if hasattr(actor, "get_username") else str(actor)
    return f"{username} <{email}>" if email and email != username else username


def snapshot(obj: models.Model) -> dict[str, Any]:
    """A JSON-able dict of a model's concrete fields, with secrets masked."""
    masked = set(getattr(obj, "audit_masked_fields", ()))
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        value = field.value_from_object(obj)
        if field.name in masked or isinstance(field, EncryptedTextField):
            value = MASK if value else ""
        data[field.attname] = value
    return normalize_json(data)


def _lock_head(tenant_id: int) -> AuditChainHead:
    try:
        return AuditChainHead.objects.select_for_update().get(tenant_id=tenant_id)
    except AuditChainHead.DoesNotExist:
        try:
            with transaction.atomic():
                AuditChainHead.objects.create(tenant_id=tenant_id)
        except IntegrityError:
            pass  # another writer created it first
        return AuditChainHead.objects.select_for_update().get(tenant_id=tenant_id)


def record_audit(
    tenant: Tenant | int,
    action: str,
    *,
    actor: Any = None,
    via: str = "system",
    obj: models.Model | None = None,
    object_type: str | None = None,
    object_id: Any = "",
    object_repr: str | None = None,
    before: Any = None,
    after: Any = None,
    request_id: str | None = None,
) -> AuditEntry:
    """Append an entry to the tenant's chain, in the current transaction."""
    tenant_id = getattr(tenant, "pk", tenant)
    if obj is not None:
        object_type = object_type or obj._meta.label
        object_id = object_id or obj.pk
        object_repr = object_repr if object_repr is not None else str(obj)
    # Joins the caller's transaction without a savepoint of its own: if writing the entry
    # fails, the action it records must not commit either.
    with transaction.atomic(savepoint=False):
        head = _lock_head(tenant_id)
        entry = AuditEntry(
            tenant_id=tenant_id,
            seq=head.seq + 1,
            created_at=timezone.now(),
            actor_id=getattr(actor, "pk", None),
            actor_name=actor_name_of(actor)[:300],
            via=via,
            request_id=(request_id or current_request_id())[:64],
            action=action,
            object_type=object_type or "",
            object_id=str(object_id or "")[:64],
            object_repr=(object_repr or "")[:300],
            before=normalize_json(before),
            after=normalize_json(after),
            prev_hash=head.hash,
        )
        entry.hash = entry.compute_hash()
        entry.save()
        AuditChainHead.objects.filter(pk=head.pk).update(seq=entry.seq, hash=entry.hash)
    return entry


@dataclass
class ChainReport:
    tenant: Tenant
    checked: int
    error: str | None = None
    bad_entry_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def verify_chain(tenant: Tenant) -> ChainReport:
    """Walk the tenant's chain in seq order; report the first altered, missing or moved entry."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for entry in AuditEntry.objects.filter(tenant=tenant).order_by("seq").iterator(chunk_size=2000):
        where = f"entry id={entry.pk} (seq {entry.seq})"
        if entry.seq != expected_seq:
            return ChainReport(
                tenant,
                checked,
                f"{where}: expected seq {expected_seq}; entries are missing or were renumbered",
                entry.pk,
            )
        if entry.prev_hash != expected_prev:
            return ChainReport(
                tenant,
                checked,
                f"{where}: previous-hash link broken; an entry "
                "before it was removed, reordered or altered",
                entry.pk,
            )
        if entry.compute_hash() != entry.hash:
            return ChainReport(
                tenant,
                checked,
                f"{where}: content does not match its hash; the entry was altered",
                entry.pk,
            )
        expected_prev = entry.hash
        expected_seq += 1
        checked += 1
    head = AuditChainHead.objects.filter(tenant=tenant).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if (head_seq, head_hash) != (expected_seq - 1, expected_prev):
        return ChainReport(
            tenant,
            checked,
            f"chain ends at seq {expected_seq - 1} but its head "
            f"records seq {head_seq}; entries were removed from the end",
        )
    return ChainReport(tenant, checked)
