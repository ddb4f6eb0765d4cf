"""The audit log: append-only, hash-chained per tenant, verified by verify_audit."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from sgportal import audit
from sgportal.audit import record_audit, verify_chain
from sgportal.models import AuditAction, AuditChainHead, AuditEntry
from sgportal.models.audit import GENESIS_HASH, AppendOnlyError


def _write(tenant, n, **kwargs):
    return [
        record_audit(
            tenant,
            AuditAction.UPDATE,
            actor="tester",
            object_type="test.Thing",
            object_id=i,
            before={"n": i},
            after={"n": i + 1},
            **kwargs,
        )
        for i in range(n)
    ]


def _tamper(sql, params=()):
    """Change audit rows behind the application's back, as a DBA could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # a superuser can switch triggers off
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")


def test_it_chains_entries_per_tenant(tenant, other_tenant):
    first, second = _write(tenant, 2)
    (other,) = _write(other_tenant, 1)
    assert (first.seq, second.seq, other.seq) == (1, 2, 1)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert other.prev_hash == GENESIS_HASH
    assert len(first.hash) == 64 and first.hash == first.compute_hash()
    head = AuditChainHead.objects.get(tenant=tenant)
    assert (head.seq, head.hash) == (2, second.hash)


@pytest.mark.postgres
def test_the_one_statement_and_orm_writers_build_the_same_chain(tenant, monkeypatch):
    """PostgreSQL hashes in SQL, SQLite in Python: entries from both verify as one chain."""
    tricky = {
        "object_repr": '"prev_hash":"0","seq":1} Zoë ☃ \\ \t',
        "before": {"seq": "1", "prev_hash": GENESIS_HASH, "nested": [None, 1.5, "é"]},
        "after": None,
    }
    written = []
    for writer in (audit._append_in_one_statement, audit._append_with_orm) * 2:
        monkeypatch.setattr(audit, "_append", writer)
        written.append(
            record_audit(tenant, AuditAction.UPDATE, actor="zoë", object_type="t", **tricky)
        )
    assert [e.seq for e in written] == [1, 2, 3, 4]
    stored = list(AuditEntry.objects.filter(tenant=tenant).order_by("seq"))
    assert [(e.pk, e.hash, e.prev_hash) for e in stored] == [
        (e.pk, e.hash, e.prev_hash) for e in written
    ]
    assert all(e.hash == e.compute_hash() for e in stored)
    assert stored[0].object_repr == tricky["object_repr"]
    assert stored[0].before == tricky["before"]
    report = verify_chain(tenant)
    assert report.ok and report.checked == 4, report.error


def test_it_keeps_the_actor_name_when_the_user_is_deleted(tenant, approver):
    entry = record_audit(
        tenant, AuditAction.DECIDE, actor=approver, via="web", object_type="x", object_id=1
    )
    approver.delete()
    entry = AuditEntry.objects.get(pk=entry.pk)
    assert entry.actor_name.startswith("bob-approver")
    assert verify_chain(tenant).ok


def test_it_rolls_back_with_the_action(tenant):
    with pytest.raises(RuntimeError), transaction.atomic():
        _write(tenant, 1)
        raise RuntimeError("the action failed")
    assert not AuditEntry.objects.filter(tenant=tenant).exists()
    assert verify_chain(tenant).ok


def test_the_model_refuses_update_and_delete(tenant):
    (entry,) = _write(tenant, 1)
    entry.action = AuditAction.DELETE
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="delete")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == AuditAction.UPDATE


@pytest.mark.postgres
def test_the_database_refuses_update_and_delete(tenant):
    from django.db import InternalError, ProgrammingError

    (entry,) = _write(tenant, 1)
    for sql in (
        "UPDATE sgportal_auditentry SET actor_name = 'x' WHERE id = %s",
        "DELETE FROM sgportal_auditentry WHERE id = %s",
    ):
        with (
            pytest.raises((InternalError, ProgrammingError), match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).actor_name == "tester"


def test_verify_audit_passes_on_an_intact_chain(tenant, other_tenant, capsys):
    _write(tenant, 3)
    _write(other_tenant, 2)
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "acme: OK (3 entries)" in out and "globex: OK (2 entries)" in out


def _verify_fails_naming(tenant, entry, capsys, reason, seq=None):
    with pytest.raises(CommandError, match="broken for: acme"):
        call_command("verify_audit", "--tenant", tenant.slug)
    err = capsys.readouterr().err
    assert f"entry id={entry.pk} (seq {seq or entry.seq})" in err
    assert reason in err


def test_verify_audit_names_an_altered_entry(tenant, capsys):
    entries = _write(tenant, 4)
    _tamper(
        "UPDATE sgportal_auditentry SET after = %s WHERE id = %s", ['{"n": 999}', entries[2].pk]
    )
    _verify_fails_naming(tenant, entries[2], capsys, "the entry was altered")


def test_verify_audit_names_the_entry_after_a_removed_one(tenant, capsys):
    entries = _write(tenant, 4)
    _tamper("DELETE FROM sgportal_auditentry WHERE id = %s", [entries[1].pk])
    _verify_fails_naming(tenant, entries[2], capsys, "missing or were renumbered")


def test_verify_audit_notices_a_removed_last_entry(tenant, capsys):
    entries = _write(tenant, 3)
    _tamper("DELETE FROM sgportal_auditentry WHERE id = %s", [entries[2].pk])
    with pytest.raises(CommandError):
        call_command("verify_audit", "--tenant", tenant.slug)
    assert "entries were removed from the end" in capsys.readouterr().err


def test_verify_audit_names_reordered_entries(tenant, capsys):
    entries = _write(tenant, 4)
    # Swap the positions of entries 2 and 3 (seq numbers exchanged).
    _tamper("UPDATE sgportal_auditentry SET seq = 1000 WHERE id = %s", [entries[1].pk])
    _tamper("UPDATE sgportal_auditentry SET seq = 2 WHERE id = %s", [entries[2].pk])
    _tamper("UPDATE sgportal_auditentry SET seq = 3 WHERE id = %s", [entries[1].pk])
    _verify_fails_naming(tenant, entries[2], capsys, "previous-hash link broken", seq=2)


def test_verify_audit_rejects_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        call_command("verify_audit", "--tenant", "nope")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain(tenant):
    writers, per_writer = 8, 15
    barrier = threading.Barrier(writers)
    errors = []

    def work():
        try:
            barrier.wait()
            for i in range(per_writer):
                with transaction.atomic():
                    record_audit(
                        tenant, AuditAction.UPDATE, actor="thread", object_type="t", object_id=i
                    )
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs = list(
        AuditEntry.objects.filter(tenant=tenant).order_by("seq").values_list("seq", flat=True)
    )
    assert seqs == list(range(1, writers * per_writer + 1))
    report = verify_chain(tenant)
    assert report.ok, report.error
    assert report.checked == writers * per_writer
