"""Writing and verifying the audit log.

``record_audit`` appends one entry to a tenant's hash chain inside the caller's
transaction: it locks the tenant's chain head (SELECT … FOR UPDATE), so concurrent writers
queue up instead of forking the chain, and the entry commits or rolls back with the
action it records. ``verify_chain`` recomputes every hash.

Every writer of a tenant queues on that one row until its transaction ends, so the time
between locking the head and committing bounds how many entries per second a tenant can
take. On PostgreSQL the lock, the insert and the head update are therefore one statement
(``_APPEND_SQL``), with the hash computed by the database from text Python prepared: the
head is locked for one round trip instead of three plus the Python work between them.
Elsewhere (SQLite, which serializes writers anyway) the same entry is written with the ORM.
Both produce the hash ``AuditEntry.compute_hash`` recomputes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from sgportal.context import current_request_id
from sgportal.fields import EncryptedTextField
from sgportal.models import AuditChainHead, AuditEntry, Tenant
from sgportal.models.audit import GENESIS_HASH, canonical_json, normalize_json

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
        _create_head(tenant_id)
        return AuditChainHead.objects.select_for_update().get(tenant_id=tenant_id)


def _create_head(tenant_id: int) -> None:
    try:
        with transaction.atomic():
            AuditChainHead.objects.create(tenant_id=tenant_id)
    except IntegrityError:
        pass  # another writer created it first


def _append_with_orm(entry: AuditEntry) -> None:
    head = _lock_head(entry.tenant_id)
    entry.seq, entry.prev_hash = head.seq + 1, head.hash
    entry.hash = entry.compute_hash()
    entry.save()
    AuditChainHead.objects.filter(pk=head.pk).update(seq=entry.seq, hash=entry.hash)


# The columns _APPEND_SQL fills from parameters, in order (seq, prev_hash and hash come
# from the locked head).
_PARAM_FIELDS = (
    "tenant_id", "created_at", "actor_id", "actor_name", "via", "request_id", "action",
    "object_type", "object_id", "object_repr", "before", "after",
)  # fmt: skip


@cache
def _append_sql() -> str:
    """Lock the head, insert the entry hashed from head + Python's text, move the head."""
    q = connection.ops.quote_name
    entries, heads = q(AuditEntry._meta.db_table), q(AuditChainHead._meta.db_table)
    column = {f.attname: q(f.column) for f in AuditEntry._meta.concrete_fields}
    values = ", ".join(
        "%s::jsonb" if name in ("before", "after") else "%s" for name in _PARAM_FIELDS
    )
    # Only names from the models' metadata are formatted in; every value is a parameter.
    return f"""
        WITH head AS (
            SELECT seq + 1 AS seq, hash AS prev_hash FROM {heads} WHERE tenant_id = %s FOR UPDATE
        ), entry AS (
            INSERT INTO {entries} ({", ".join(column[n] for n in _PARAM_FIELDS)},
                {column["seq"]}, {column["prev_hash"]}, {column["hash"]})
            SELECT {values}, head.seq, head.prev_hash,
                encode(sha256(convert_to(
                    %s || head.prev_hash || %s || head.seq::text || %s, 'UTF8')), 'hex')
            FROM head
            RETURNING {column["id"]}, {column["seq"]}, {column["prev_hash"]}, {column["hash"]}
        )
        UPDATE {heads} AS h SET seq = entry.seq, hash = entry.hash
        FROM entry WHERE h.tenant_id = %s
        RETURNING entry.*
    """  # noqa: S608


def _hash_text_parts(entry: AuditEntry) -> tuple[str, str, str]:
    """``entry``'s canonical JSON cut where the head's hash and the next seq go.

    The cut points are random markers, so no stored text can imitate them.
    """
    prev_marker, seq_marker = secrets.token_hex(16), secrets.token_hex(16)
    entry.prev_hash, entry.seq = prev_marker, seq_marker
    text = canonical_json(entry.content())
    before_prev, after_prev = text.split(prev_marker)  # inside the JSON string's quotes
    middle, after_seq = after_prev.split(f'"{seq_marker}"')  # a number: drop the quotes
    return before_prev, middle, after_seq


def _append_in_one_statement(entry: AuditEntry) -> None:
    params = [entry.tenant_id]
    for name in _PARAM_FIELDS:
        value = getattr(entry, name)
        params.append(
            canonical_json(value) if name in ("before", "after") and value is not None else value
        )
    params += [*_hash_text_parts(entry), entry.tenant_id]
    with connection.cursor() as cursor:
        cursor.execute(_append_sql(), params)
        row = cursor.fetchone()
        if row is None:  # the tenant's first entry: its chain head does not exist yet
            _create_head(entry.tenant_id)
            cursor.execute(_append_sql(), params)
            row = cursor.fetchone()
    entry.pk, entry.seq, entry.prev_hash, entry.hash = row
    entry._state.adding, entry._state.db = False, connection.alias


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
    entry = AuditEntry(
        tenant_id=tenant_id,
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
    )
    # Joins the caller's transaction without a savepoint of its own: if writing the entry
    # fails, the action it records must not commit either.
    with transaction.atomic(savepoint=False):
        _append(entry)
    return entry


def _append(entry: AuditEntry) -> None:
    if connection.vendor == "postgresql":
        _append_in_one_statement(entry)
    else:
        _append_with_orm(entry)


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
