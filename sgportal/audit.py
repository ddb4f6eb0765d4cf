"""Writing and verifying the audit log.

``record_audit`` appends one entry to a tenant's chain inside the caller's transaction: it
locks the tenant's chain head (SELECT … FOR UPDATE), so concurrent writers queue up instead
of forking the chain, and the entry commits or rolls back with the action it records.

Each entry's hash is an HMAC keyed by ``AUDIT_HMAC_KEY`` (``AuditEntry.compute_hash``). The
key never goes to the database, so the hash is computed here, between locking the head and
writing. Every writer of a tenant queues on that head until its transaction ends, so on
PostgreSQL the work under the lock is kept small: two statements (lock and read the head;
insert the entry and move the head in one statement) and, between them, only the end of an
HMAC whose JSON and first part were computed before locking. Elsewhere (SQLite, which
serializes writers anyway) the ORM does the same in three statements. Both produce the hash
``AuditEntry.compute_hash`` recomputes. The database refuses to move a head except one
step forward onto the entry just written (migration 0005).

``verify_chain`` recomputes every hash and compares the chain's end with the head and with
the latest signed checkpoints (``sgportal.checkpoints``), which live outside the database:
a tail cut off together with the head moved back is caught by them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from sgportal import db
from sgportal.context import current_request_id
from sgportal.fields import EncryptedTextField
from sgportal.models import AuditChainHead, AuditEntry, Tenant
from sgportal.models.audit import (
    GENESIS_HASH,
    audit_key,
    audit_key_id,
    audit_keys,
    canonical_json,
    normalize_json,
)

if TYPE_CHECKING:
    from sgportal.checkpoints import Checkpoint

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
    """A JSON-able dict of a model's concrete fields, with secrets masked: encrypted ones,
    and the stored hashes of credentials a model names in ``audit_masked_fields`` (the
    audit log is read by approvers and read-scoped API tokens)."""
    masked = set(getattr(obj, "audit_masked_fields", ()))
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        value = field.value_from_object(obj)
        if isinstance(field, EncryptedTextField) or field.name in masked:
            value = MASK if value else ""
        data[field.attname] = value
    return normalize_json(data)


def _create_head(tenant_id: int) -> None:
    try:
        with transaction.atomic():
            AuditChainHead.objects.create(tenant_id=tenant_id)
    except IntegrityError:
        pass  # another writer created it first


def _lock_head(tenant_id: int) -> tuple[int, str]:
    """(seq, hash) of the tenant's chain head, locked until the transaction ends."""
    locked = AuditChainHead.objects.select_for_update().filter(tenant_id=tenant_id)
    row = locked.values_list("seq", "hash").first()
    if row is None:  # the tenant's first entry: its chain head does not exist yet
        _create_head(tenant_id)
        row = locked.values_list("seq", "hash").get()
    return row


def _link(entry: AuditEntry) -> None:
    """Chain ``entry`` onto its tenant's locked head and compute its keyed hash."""
    head_seq, head_hash = _lock_head(entry.tenant_id)
    entry.seq, entry.prev_hash = head_seq + 1, head_hash
    entry.hash = entry.compute_hash()


def _append_with_orm(entry: AuditEntry) -> None:
    _link(entry)
    entry.save()
    AuditChainHead.objects.filter(tenant_id=entry.tenant_id).update(seq=entry.seq, hash=entry.hash)


def _insert_fields() -> list:
    return [f for f in AuditEntry._meta.concrete_fields if not f.primary_key]


@cache
def _lock_head_sql() -> str:
    heads = connection.ops.quote_name(AuditChainHead._meta.db_table)
    return f"SELECT seq, hash FROM {heads} WHERE tenant_id = %s FOR UPDATE"  # noqa: S608


@cache
def _insert_and_move_head_sql() -> str:
    """Insert the entry and move the head onto it, in one statement (one round trip)."""
    q = connection.ops.quote_name
    entries, heads = q(AuditEntry._meta.db_table), q(AuditChainHead._meta.db_table)
    fields = _insert_fields()
    values = ", ".join("%s::jsonb" if f.name in ("before", "after") else "%s" for f in fields)
    # Only names from the models' metadata are formatted in; every value is a parameter.
    return f"""
        WITH entry AS (
            INSERT INTO {entries} ({", ".join(q(f.column) for f in fields)})
            VALUES ({values})
            RETURNING {q(AuditEntry._meta.pk.column)} AS id, seq, hash
        )
        UPDATE {heads} AS h SET seq = entry.seq, hash = entry.hash
        FROM entry WHERE h.tenant_id = %s
        RETURNING entry.id
    """  # noqa: S608


def _keyed_hash_of(entry: AuditEntry) -> Callable[[int, str], str]:
    """``entry``'s keyed hash as a function of the head's (seq, hash), with everything else
    (JSON, the HMAC of the text before the previous hash) done before the head is locked.

    The canonical JSON is cut where the previous hash and the seq go, at random markers, so
    no stored text can imitate them; ``prev_hash`` sorts before ``seq`` in it.
    """
    prev_marker, seq_marker = secrets.token_hex(16), secrets.token_hex(16)
    entry.prev_hash, entry.seq = prev_marker, seq_marker
    text = canonical_json(entry.content())
    before_prev, after_prev = text.split(prev_marker)  # inside the JSON string's quotes
    middle, after_seq = after_prev.split(f'"{seq_marker}"')  # a number: drop the quotes
    started = hmac.new(audit_key("entry"), before_prev.encode(), hashlib.sha256)

    def finish(seq: int, prev_hash: str) -> str:
        mac = started.copy()
        mac.update(f"{prev_hash}{middle}{seq}{after_seq}".encode())
        return mac.hexdigest()

    return finish


def _append_in_one_statement(entry: AuditEntry) -> None:
    keyed_hash = _keyed_hash_of(entry)
    values = {}
    for field in _insert_fields():
        value = getattr(entry, field.attname)
        if field.name in ("before", "after") and value is not None:
            values[field.attname] = canonical_json(value)
        elif field.attname not in ("seq", "prev_hash", "hash"):
            values[field.attname] = field.get_db_prep_save(value, connection)
    with connection.cursor() as cursor:
        cursor.execute(_lock_head_sql(), [entry.tenant_id])
        row = cursor.fetchone()
        if row is None:  # the tenant's first entry: its chain head does not exist yet
            _create_head(entry.tenant_id)
            cursor.execute(_lock_head_sql(), [entry.tenant_id])
            row = cursor.fetchone()
        entry.seq, entry.prev_hash = row[0] + 1, row[1]
        entry.hash = keyed_hash(entry.seq, entry.prev_hash)
        values.update(seq=entry.seq, prev_hash=entry.prev_hash, hash=entry.hash)
        params = [values[f.attname] for f in _insert_fields()] + [entry.tenant_id]
        cursor.execute(_insert_and_move_head_sql(), params)
        (entry.pk,) = cursor.fetchone()
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
        key_id=audit_key_id(),
    )
    # Joins the caller's transaction without a savepoint of its own: if writing the entry
    # fails, the action it records must not commit either.
    with transaction.atomic(savepoint=False):
        _append(entry)
    return entry


def _append(entry: AuditEntry) -> None:
    if db.is_postgresql():
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


class _KeyWalk:
    """The keys a chain has used so far: it may only move forward through them (oldest to
    newest, ``audit_keys()``), so a retired key cannot add to or rewrite the chain after a
    newer key took over."""

    def __init__(self) -> None:
        self.rank = {key_id: rank for rank, key_id in enumerate(audit_keys())}
        self.current = -1  # rank of the newest key seen so far; -1: none named yet

    def error(self, entry: AuditEntry) -> str | None:
        if not entry.key_id:
            if self.current >= 0:
                return "written without a key id after entries that name their key"
            return None
        rank = self.rank.get(entry.key_id)
        if rank is None:
            return (
                f"MACed with key {entry.key_id}, which sgportal does not hold "
                "(put the retired key in AUDIT_HMAC_PREVIOUS_KEYS)"
            )
        if rank < self.current:
            return f"MACed with retired key {entry.key_id} after a newer key took over"
        self.current = rank
        return None


def _blank_key_hash_matches(entry: AuditEntry) -> bool:
    """An entry from before key ids were kept: MACed with whichever key was current then."""
    return any(
        hmac.compare_digest(entry.hash, entry.compute_hash(master))
        for master in audit_keys().values()
    )


def _entry_error(
    entry: AuditEntry, seq: int, prev: str, keyed_from: int, keys: _KeyWalk
) -> str | None:
    if entry.seq != seq:
        return f"expected seq {seq}; entries are missing or were renumbered"
    if entry.prev_hash != prev:
        return "previous-hash link broken; an entry before it was removed, reordered or altered"
    if seq < keyed_from:
        matches = hmac.compare_digest(entry.hash, entry.compute_legacy_hash())
    else:
        error = keys.error(entry)
        if error:
            return error
        if entry.key_id:
            matches = hmac.compare_digest(entry.hash, entry.compute_hash())
        else:
            matches = _blank_key_hash_matches(entry)
    if not matches:
        return "content does not match its hash; the entry was altered"
    return None


def verify_chain(tenant: Tenant, checkpoints: Sequence[Checkpoint] = ()) -> ChainReport:
    """Walk the tenant's chain in seq order; report the first altered, missing or moved entry,
    a head that does not match the chain's end, or a chain that no longer reaches what a
    signed checkpoint recorded (entries cut from the end, head moved back)."""
    head = AuditChainHead.objects.filter(tenant=tenant).first()
    keyed_from = head.keyed_from_seq if head else 1
    marks = {cp.heads[tenant.pk].seq for cp in checkpoints if tenant.pk in cp.heads}
    hash_at: dict[int, str] = {}
    keys = _KeyWalk()
    prev, seq, checked = GENESIS_HASH, 1, 0
    for _ in range(5):  # entries appended while walking: walk on to the head read after
        entries = AuditEntry.objects.filter(tenant=tenant, seq__gte=seq).order_by("seq")
        for entry in entries.iterator(chunk_size=2000):
            error = _entry_error(entry, seq, prev, keyed_from, keys)
            if error:
                return ChainReport(
                    tenant, checked, f"entry id={entry.pk} (seq {entry.seq}): {error}", entry.pk
                )
            if seq in marks:
                hash_at[seq] = entry.hash
            prev, seq, checked = entry.hash, seq + 1, checked + 1
        head = AuditChainHead.objects.filter(tenant=tenant).first()
        if head is None or head.seq <= checked:
            break
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq > checked:
        return ChainReport(
            tenant,
            checked,
            f"chain ends at seq {checked} but its head records seq {head_seq}; "
            "entries were removed from the end",
        )
    if (head_seq, head_hash) != (checked, prev):
        return ChainReport(
            tenant,
            checked,
            f"chain ends at seq {checked} but its head records seq {head_seq} "
            f"({head_hash[:12]}…); the head was moved back or altered",
        )
    for cp in checkpoints:
        mark = cp.heads.get(tenant.pk)
        if mark is None:
            continue  # a tenant without entries when the checkpoint was written
        where = f"checkpoint {cp.location} ({cp.created_at.isoformat()})"
        if checked < mark.seq:
            return ChainReport(
                tenant,
                checked,
                f"chain ends at seq {checked} but {where} recorded seq {mark.seq}; "
                "entries were removed from the end and the head moved back",
            )
        # Also catches a moved keyed_from_seq: the entries it reclassifies only verify again
        # once rehashed, and then the entry at the checkpoint's seq is not the one it signed.
        if hash_at.get(mark.seq, GENESIS_HASH if mark.seq == 0 else None) != mark.hash:
            return ChainReport(
                tenant,
                checked,
                f"entry seq {mark.seq} differs from the one {where} recorded; "
                "the chain was rewritten",
            )
    return ChainReport(tenant, checked)
