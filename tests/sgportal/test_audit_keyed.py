"""The keyed audit chain: HMAC by AUDIT_HMAC_KEY, guarded heads, TRUNCATE refused, upgrade."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from sgportal.audit import verify_chain
from sgportal.models import AuditAction, AuditChainHead, AuditEntry
from sgportal.models.audit import GENESIS_HASH, AppendOnlyError
from tests.sgportal.test_audit import _tamper, _write

OTHER_KEY = "another-audit-hmac-key-of-at-least-32-chars"


def _relink_unkeyed(tenant, from_seq):
    """What a database owner does after editing an entry: recompute the hashes the way the
    old, unkeyed chain did (plain SHA-256), relink every later entry and move the head."""
    entries = list(AuditEntry.objects.filter(tenant=tenant).order_by("seq"))
    prev = entries[from_seq - 2].hash if from_seq > 1 else GENESIS_HASH
    for entry in entries[from_seq - 1 :]:
        entry.prev_hash = prev
        entry.hash = entry.compute_legacy_hash()
        _tamper(
            "UPDATE sgportal_auditentry SET prev_hash = %s, hash = %s WHERE id = %s",
            [entry.prev_hash, entry.hash, entry.pk],
        )
        prev = entry.hash
    _tamper("UPDATE sgportal_auditchainhead SET hash = %s WHERE tenant_id = %s", [prev, tenant.pk])


def test_it_hashes_entries_with_the_audit_hmac_key(tenant):
    (entry,) = _write(tenant, 1)
    assert entry.hash == entry.compute_hash()
    assert entry.hash != entry.compute_legacy_hash()  # not the unkeyed SHA-256 any more
    assert entry.compute_hash(OTHER_KEY) != entry.hash
    with override_settings(AUDIT_HMAC_KEY=OTHER_KEY):  # the key was lost, not retired
        report = verify_chain(tenant)
    assert not report.ok and f"MACed with key {entry.key_id}" in report.error
    assert "does not hold" in report.error


def test_verify_audit_catches_an_edit_with_the_unkeyed_hashes_recomputed(tenant, capsys):
    entries = _write(tenant, 4)
    _tamper(
        "UPDATE sgportal_auditentry SET actor_name = 'someone-else' WHERE id = %s",
        [entries[1].pk],
    )
    _relink_unkeyed(tenant, from_seq=2)
    head = AuditChainHead.objects.get(tenant=tenant)
    assert head.hash == AuditEntry.objects.get(pk=entries[3].pk).hash  # a consistent forgery

    with pytest.raises(CommandError, match="broken for: acme"):
        call_command("verify_audit", "--tenant", tenant.slug)
    err = capsys.readouterr().err
    assert f"entry id={entries[1].pk} (seq 2): content does not match its hash" in err


@pytest.mark.postgres
def test_the_database_refuses_truncate_of_the_log_and_its_heads(tenant, other_tenant):
    from django.db import InternalError, ProgrammingError

    _write(tenant, 2)
    with connection.cursor() as cursor:  # run the deferred FK checks of the inserts now
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for sql in (
        "TRUNCATE sgportal_auditentry",
        "TRUNCATE sgportal_auditchainhead",
        "TRUNCATE sgportal_tenant CASCADE",
    ):
        with (
            pytest.raises((InternalError, ProgrammingError), match="TRUNCATE refused"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert AuditEntry.objects.filter(tenant=tenant).count() == 2
    assert AuditChainHead.objects.get(tenant=tenant).seq == 2
    assert verify_chain(tenant).ok


@pytest.mark.postgres
def test_the_database_refuses_to_move_delete_or_forge_a_head(tenant, other_tenant):
    from django.db import InternalError, ProgrammingError

    entries = _write(tenant, 3)
    attempts = [
        # trim: move the head back onto an earlier entry
        ("UPDATE sgportal_auditchainhead SET seq = 2, hash = %s WHERE tenant_id = %s",
         [entries[1].hash, tenant.pk]),
        # jump forward onto nothing
        ("UPDATE sgportal_auditchainhead SET seq = 4, hash = %s WHERE tenant_id = %s",
         ["f" * 64, tenant.pk]),
        # claim everything so far predates the keyed chain
        ("UPDATE sgportal_auditchainhead SET keyed_from_seq = 4 WHERE tenant_id = %s",
         [tenant.pk]),
        ("DELETE FROM sgportal_auditchainhead WHERE tenant_id = %s", [tenant.pk]),
        # a head for a tenant that starts mid-chain
        ("INSERT INTO sgportal_auditchainhead (tenant_id, seq, hash, keyed_from_seq) "
         "VALUES (%s, 7, %s, 1)", [other_tenant.pk, "e" * 64]),
    ]  # fmt: skip
    for sql, params in attempts:
        with (
            pytest.raises((InternalError, ProgrammingError), match="refused"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, params)
    head = AuditChainHead.objects.get(tenant=tenant)
    assert (head.seq, head.hash, head.keyed_from_seq) == (3, entries[2].hash, 1)
    assert not AuditChainHead.objects.filter(tenant=other_tenant).exists()
    # appending still moves the head, one step onto the new entry
    (fourth,) = _write(tenant, 1)
    assert AuditChainHead.objects.get(tenant=tenant).hash == fourth.hash
    assert verify_chain(tenant).ok


def test_the_model_refuses_to_delete_a_head(tenant):
    _write(tenant, 1)
    head = AuditChainHead.objects.get(tenant=tenant)
    with pytest.raises(AppendOnlyError):
        head.delete()
    with pytest.raises(AppendOnlyError):
        AuditChainHead.objects.filter(tenant=tenant).delete()
    assert AuditChainHead.objects.filter(tenant=tenant).exists()


def _write_legacy_entries(apps, tenant_id, count):
    """Entries as the unkeyed code wrote them (plain SHA-256 chain), on the 0003 schema."""
    from django.utils import timezone

    entry_model = apps.get_model("sgportal", "AuditEntry")
    head_model = apps.get_model("sgportal", "AuditChainHead")
    prev = GENESIS_HASH
    for seq in range(1, count + 1):
        entry = AuditEntry(
            tenant_id=tenant_id, seq=seq, created_at=timezone.now(), actor_name="old code",
            via="web", action=AuditAction.UPDATE, object_type="old.Thing", object_id=str(seq),
            after={"n": seq}, prev_hash=prev,
        )  # fmt: skip
        entry.hash = entry.compute_legacy_hash()
        entry_model.objects.create(
            **{f.attname: getattr(entry, f.attname) for f in entry_model._meta.concrete_fields}
        )
        prev = entry.hash
    head_model.objects.create(tenant_id=tenant_id, seq=count, hash=prev)


@pytest.mark.django_db(transaction=True)
def test_entries_from_before_the_upgrade_still_verify_and_stay_protected(capsys):
    from tests.factories import TenantFactory

    tenant = TenantFactory(slug="acme")
    executor = MigrationExecutor(connection)
    executor.migrate([("sgportal", "0008_api_token_rules")])
    old_apps = executor.loader.project_state([("sgportal", "0008_api_token_rules")]).apps
    _write_legacy_entries(old_apps, tenant.pk, 3)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    head = AuditChainHead.objects.get(tenant=tenant)
    assert (head.seq, head.keyed_from_seq) == (3, 4)
    fourth, fifth = _write(tenant, 2)
    assert fourth.seq == 4 and fourth.hash == fourth.compute_hash()
    call_command("verify_audit")
    assert "acme: OK (5 entries)" in capsys.readouterr().out

    # Rewriting an old entry and relinking the unkeyed part breaks the first keyed entry.
    old = AuditEntry.objects.get(tenant=tenant, seq=2)
    _tamper("UPDATE sgportal_auditentry SET after = %s WHERE id = %s", ['{"n": 99}', old.pk])
    _relink_unkeyed(tenant, from_seq=2)  # also relinks 4 and 5 unkeyed; undo that part:
    for entry in (fourth, fifth):
        _tamper(
            "UPDATE sgportal_auditentry SET prev_hash = %s, hash = %s WHERE id = %s",
            [entry.prev_hash, entry.hash, entry.pk],
        )
    _tamper(
        "UPDATE sgportal_auditchainhead SET hash = %s WHERE tenant_id = %s",
        [fifth.hash, tenant.pk],
    )
    report = verify_chain(tenant)
    assert not report.ok
    assert report.bad_entry_id == fourth.pk and "previous-hash link broken" in report.error


# --- AUDIT_HMAC_KEY in settings ------------------------------------------------------------


def test_it_refuses_to_start_without_an_audit_key_when_debug_is_off():
    from tests.sgportal.test_settings import PRODUCTION_ENV, _manage

    environ = {k: v for k, v in PRODUCTION_ENV.items() if k != "AUDIT_HMAC_KEY"}
    result = _manage("check", **environ)
    assert result.returncode != 0
    assert "AUDIT_HMAC_KEY must be set when DEBUG is off" in result.stderr
    result = _manage("check", **{**PRODUCTION_ENV, "AUDIT_HMAC_KEY": "too-short"})
    assert result.returncode != 0
    assert "AUDIT_HMAC_KEY must be at least 32 characters" in result.stderr


def test_it_reads_the_audit_key_from_a_file(tmp_path):
    from tests.sgportal.test_settings import PRODUCTION_ENV, _manage

    key_file = tmp_path / "audit-key"
    key_file.write_text("k" * 40 + "\n")
    environ = {k: v for k, v in PRODUCTION_ENV.items() if k != "AUDIT_HMAC_KEY"}
    code = "from django.conf import settings; print(settings.AUDIT_HMAC_KEY)"
    result = _manage(
        "shell", "--no-imports", "-c", code, AUDIT_HMAC_KEY_FILE=str(key_file), **environ
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "k" * 40
