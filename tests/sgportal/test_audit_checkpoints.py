"""Signed checkpoints of the audit chain heads, outside the database (directory, S3, log)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from sgportal import checkpoints
from sgportal.checkpoints import write_checkpoint
from sgportal.models import AuditChainHead, AuditEntry, Tenant
from tests.e2e.worker import FAKE_CREDENTIALS, moto_server
from tests.sgportal.test_audit import _tamper, _write

OTHER_KEY = "another-audit-hmac-key-of-at-least-32-chars"
BUCKET = "sgportal-audit-checkpoints"


@pytest.fixture
def checkpoint_dir(tmp_path, settings):
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.AUDIT_CHECKPOINT_S3_URI = None
    return tmp_path / "checkpoints"


def _trim(tenant, entries, keep):
    """Cut the chain after ``keep`` entries and move the head back, as a database owner with
    triggers off can: the chain and its head then agree with each other."""
    for entry in entries[keep:]:
        _tamper("DELETE FROM sgportal_auditentry WHERE id = %s", [entry.pk])
    _tamper(
        "UPDATE sgportal_auditchainhead SET seq = %s, hash = %s WHERE tenant_id = %s",
        [keep, entries[keep - 1].hash, tenant.pk],
    )


def _verify(*args):
    call_command("verify_audit", *args)


def test_audit_checkpoint_signs_every_head_into_the_log_and_the_directory(
    tenant, other_tenant, checkpoint_dir, caplog, capsys
):
    acme = _write(tenant, 3)
    globex = _write(other_tenant, 1)
    with caplog.at_level(logging.INFO, logger="sgportal.audit.checkpoint"):
        call_command("audit_checkpoint")
    (path,) = checkpoint_dir.glob("checkpoint-*.json")
    assert f"checkpoint written to {path}" in capsys.readouterr().out
    document = json.loads(path.read_text())
    assert [(h["tenant"], h["seq"], h["hash"]) for h in document["heads"]] == [
        ("acme", 3, acme[-1].hash),
        ("globex", 1, globex[-1].hash),
    ]
    (logged,) = [r.getMessage() for r in caplog.records if "audit checkpoint" in r.getMessage()]
    assert json.loads(logged.removeprefix("audit checkpoint ")) == document
    parsed = checkpoints.parse_checkpoint(path.read_text(), str(path))
    assert parsed.heads[tenant.pk].seq == 3


def test_verify_audit_catches_a_trimmed_tail_with_the_checkpoint(tenant, checkpoint_dir, capsys):
    entries = _write(tenant, 5)
    write_checkpoint()
    _trim(tenant, entries, keep=3)

    with override_settings(AUDIT_CHECKPOINT_DIR=None):  # without the checkpoint: unnoticed
        _verify("--tenant", "acme")
    assert "acme: OK (3 entries)" in capsys.readouterr().out

    with pytest.raises(CommandError, match="broken for: acme"):
        _verify("--tenant", "acme")
    err = capsys.readouterr().err
    assert "chain ends at seq 3 but checkpoint" in err and "recorded seq 5" in err


def test_verify_audit_passes_with_entries_appended_after_the_checkpoint(
    tenant, other_tenant, checkpoint_dir, capsys
):
    _write(tenant, 2)
    write_checkpoint()
    _write(tenant, 2)
    _write(other_tenant, 1)  # a chain the checkpoint does not know yet
    _verify()
    out = capsys.readouterr().out
    assert "signature OK, 1 chain heads" in out
    assert "acme: OK (4 entries)" in out and "globex: OK (1 entries)" in out


def test_verify_audit_catches_a_chain_rewritten_below_the_checkpoint(
    tenant, checkpoint_dir, capsys
):
    """Cut back to 2 entries and write 3 new ones (with the key, as the application would):
    the chain reaches seq 5 again, but not the entry the checkpoint recorded."""
    entries = _write(tenant, 5)
    write_checkpoint()
    _trim(tenant, entries, keep=2)
    _write(tenant, 3)
    with pytest.raises(CommandError):
        _verify()
    assert "entry seq 5 differs from the one checkpoint" in capsys.readouterr().err


def test_verify_audit_catches_a_moved_keyed_chain_start(tenant, checkpoint_dir, capsys):
    """Declare the whole chain 'from before the upgrade' and rewrite it with plain SHA-256:
    the chain holds together again, and only the checkpoint shows it is not the one signed."""
    from tests.sgportal.test_audit_keyed import _relink_unkeyed

    entries = _write(tenant, 2)
    write_checkpoint()
    _tamper(
        "UPDATE sgportal_auditchainhead SET keyed_from_seq = 3 WHERE tenant_id = %s", [tenant.pk]
    )
    _tamper("UPDATE sgportal_auditentry SET actor_name = 'x' WHERE id = %s", [entries[0].pk])
    _relink_unkeyed(tenant, from_seq=1)
    with override_settings(AUDIT_CHECKPOINT_DIR=None):
        _verify()  # without the checkpoint the forgery holds
    capsys.readouterr()
    with pytest.raises(CommandError, match="broken for: acme"):
        _verify()
    assert "entry seq 2 differs from the one checkpoint" in capsys.readouterr().err


def test_verify_audit_refuses_a_forged_or_foreign_checkpoint(tenant, checkpoint_dir, capsys):
    entries = _write(tenant, 5)
    write_checkpoint(now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    _trim(tenant, entries, keep=3)
    # The attacker writes a newer checkpoint matching the trimmed chain: without the key its
    # signature cannot hold; with another key, its key id gives it away.
    with override_settings(AUDIT_HMAC_KEY=OTHER_KEY):
        write_checkpoint(now=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    with pytest.raises(CommandError, match="cannot be trusted"):
        _verify()
    assert "signed with a key sgportal does not hold" in capsys.readouterr().err

    (newest,) = checkpoint_dir.glob("checkpoint-20260102*.json")
    forged = json.loads(newest.read_text())
    forged["key_id"] = json.loads(next(checkpoint_dir.glob("checkpoint-20260101*")).read_text())[
        "key_id"
    ]
    newest.write_text(json.dumps(forged))
    with pytest.raises(CommandError, match="cannot be trusted"):
        _verify()
    assert "signature does not match; forged or altered" in capsys.readouterr().err


def test_verify_audit_notices_a_tenant_deleted_with_its_chain(
    tenant, other_tenant, checkpoint_dir, capsys
):
    _write(tenant, 1)
    _write(other_tenant, 2)
    write_checkpoint()
    for table in ("sgportal_auditentry", "sgportal_auditchainhead"):
        _tamper(f"DELETE FROM {table} WHERE tenant_id = %s", [other_tenant.pk])  # noqa: S608
    Tenant.objects.filter(pk=other_tenant.pk).delete()
    with pytest.raises(CommandError, match="broken for: globex"):
        _verify()
    assert "tenant id" in capsys.readouterr().err


def test_verify_audit_warns_when_no_checkpoint_store_is_set(tenant, settings, capsys):
    settings.AUDIT_CHECKPOINT_DIR = settings.AUDIT_CHECKPOINT_S3_URI = None
    _write(tenant, 1)
    _verify()
    assert "no checkpoint store configured" in capsys.readouterr().err


def test_verify_audit_warns_about_a_stale_latest_checkpoint(tenant, checkpoint_dir, capsys):
    _write(tenant, 1)
    write_checkpoint(now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    _verify()
    assert "is older than" in capsys.readouterr().err


# --- S3, through a moto server (real HTTP, as boto3 talks to AWS) ---------------------------


@pytest.fixture
def s3_bucket(settings, monkeypatch):
    with moto_server() as endpoint:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", b""))  # noqa: S310
        for name, value in FAKE_CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket=BUCKET,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}},
            },
        )
        settings.AUDIT_CHECKPOINT_DIR = None
        settings.AUDIT_CHECKPOINT_S3_URI = f"s3://{BUCKET}/audit/"
        yield s3


def test_checkpoints_go_to_s3_and_verify_audit_reads_the_latest(tenant, s3_bucket, capsys):
    entries = _write(tenant, 4)
    write_checkpoint(now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    call_command("audit_checkpoint")
    keys = [o["Key"] for o in s3_bucket.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) == 2 and all(k.startswith("audit/checkpoint-") for k in keys)
    assert f"s3://{BUCKET}/{max(keys)}" in capsys.readouterr().out

    _verify()
    assert f"checkpoint s3://{BUCKET}/{max(keys)}" in capsys.readouterr().out

    _trim(tenant, entries, keep=2)
    with pytest.raises(CommandError, match="broken for: acme"):
        _verify()
    assert "recorded seq 4" in capsys.readouterr().err


def test_audit_checkpoint_fails_loudly_when_s3_refuses(tenant, s3_bucket, settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path)
    settings.AUDIT_CHECKPOINT_S3_URI = "s3://no-such-bucket-here/audit/"
    _write(tenant, 1)
    with pytest.raises(CommandError, match="not written to: S3Store"):
        call_command("audit_checkpoint")
    assert len(list(tmp_path.glob("checkpoint-*.json"))) == 1  # the other store still got it


def test_verify_audit_fails_when_it_cannot_read_the_checkpoints(tenant, s3_bucket, settings):
    settings.AUDIT_CHECKPOINT_S3_URI = "s3://no-such-bucket-here/audit/"
    _write(tenant, 1)
    with pytest.raises(CommandError, match="cannot read checkpoints"):
        _verify()


def test_it_schedules_the_checkpoint_hourly_in_beat(db):
    from django_celery_beat.models import PeriodicTask

    from sgportal import tasks
    from tests.beat import start_beat

    start_beat()
    entry = PeriodicTask.objects.get(task=tasks.AUDIT_CHECKPOINT)
    assert entry.interval.every == 3600 and entry.expire_seconds == 3600


def test_the_beat_task_writes_a_checkpoint(tenant, checkpoint_dir):
    from sgportal import tasks

    _write(tenant, 2)
    written = tasks.audit_checkpoint.apply().get()
    (path,) = checkpoint_dir.glob("checkpoint-*.json")
    assert written == ["log", str(path)]
    assert AuditChainHead.objects.get(tenant=tenant).seq == 2
    assert AuditEntry.objects.filter(tenant=tenant).count() == 2
