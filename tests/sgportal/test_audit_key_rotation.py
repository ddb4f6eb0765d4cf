"""Rotating AUDIT_HMAC_KEY: entries and checkpoints signed with a retired key still verify
while it is in AUDIT_HMAC_PREVIOUS_KEYS, each entry names its key, a chain only moves
forward through the keys (a retired key cannot append), and a key nobody holds is named."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from sgportal import audit
from sgportal.audit import verify_chain
from sgportal.checkpoints import write_checkpoint
from sgportal.models.audit import audit_key_id
from tests.sgportal.test_audit import _write
from tests.sgportal.test_settings import PRODUCTION_ENV, _manage

KEY_A = "audit-key-a-retired-0123456789-abcdefghij"
KEY_B = "audit-key-b-current-0123456789-abcdefghij"
KEY_C = "audit-key-c-newest--0123456789-abcdefghij"

with_a = override_settings(AUDIT_HMAC_KEY=KEY_A, AUDIT_HMAC_PREVIOUS_KEYS=[])
rotated = override_settings(AUDIT_HMAC_KEY=KEY_B, AUDIT_HMAC_PREVIOUS_KEYS=[KEY_A])


def test_a_rotated_chain_verifies_with_the_retired_key_kept(tenant, other_tenant):
    with with_a:
        old = _write(tenant, 3)
        _write(other_tenant, 1)
    with rotated:
        new = _write(tenant, 2)
        assert {e.key_id for e in old} == {audit_key_id(KEY_A)}
        assert {e.key_id for e in new} == {audit_key_id(KEY_B)}
        assert verify_chain(tenant).ok and verify_chain(tenant).checked == 5
        assert verify_chain(other_tenant).ok
    with override_settings(
        AUDIT_HMAC_KEY=KEY_C, AUDIT_HMAC_PREVIOUS_KEYS=[KEY_A, KEY_B]
    ):  # a second rotation
        _write(tenant, 1)
        assert verify_chain(tenant).ok and verify_chain(tenant).checked == 6


def test_without_the_retired_key_the_report_names_the_missing_key(tenant):
    with with_a:
        (first,) = _write(tenant, 1)
    with override_settings(AUDIT_HMAC_KEY=KEY_B, AUDIT_HMAC_PREVIOUS_KEYS=[]):
        report = verify_chain(tenant)
    assert not report.ok and report.bad_entry_id == first.pk
    assert f"MACed with key {audit_key_id(KEY_A)}, which sgportal does not hold" in report.error


def test_a_retired_key_cannot_append_after_the_new_one_took_over(tenant):
    with with_a:
        _write(tenant, 2)
    with rotated:
        _write(tenant, 1)
    with with_a:  # a process never restarted, or whoever kept the old key
        (late,) = _write(tenant, 1)
    with rotated:
        report = verify_chain(tenant)
    assert not report.ok and report.bad_entry_id == late.pk
    assert "retired key" in report.error and "after a newer key took over" in report.error


def test_entries_from_before_key_ids_verify_after_a_rotation(tenant, monkeypatch):
    with with_a:
        monkeypatch.setattr(audit, "audit_key_id", lambda: "")  # what the last release wrote
        legacy = _write(tenant, 2)
        monkeypatch.undo()
    assert {e.key_id for e in legacy} == {""}
    with rotated:
        _write(tenant, 1)
        assert verify_chain(tenant).ok
        # ...but nothing may be written without a key id once ids are in the chain.
        monkeypatch.setattr(audit, "audit_key_id", lambda: "")
        (late,) = _write(tenant, 1)
        report = verify_chain(tenant)
    assert report.bad_entry_id == late.pk and "without a key id" in report.error


def test_checkpoints_signed_with_the_retired_key_still_count(tenant, settings, tmp_path, capsys):
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path)
    with with_a:
        _write(tenant, 2)
        write_checkpoint(now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    with rotated:
        _write(tenant, 1)
        call_command("verify_audit")
        assert "acme: OK (3 entries)" in capsys.readouterr().out
    lost = override_settings(AUDIT_HMAC_KEY=KEY_B, AUDIT_HMAC_PREVIOUS_KEYS=[])
    with lost, pytest.raises(CommandError):
        call_command("verify_audit")
    assert "signed with a key sgportal does not hold" in capsys.readouterr().err


def test_settings_refuse_the_current_key_among_the_retired_ones():
    env = {
        **PRODUCTION_ENV,
        "AUDIT_HMAC_PREVIOUS_KEYS": f"{KEY_A},{PRODUCTION_ENV['AUDIT_HMAC_KEY']}",
    }
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "AUDIT_HMAC_PREVIOUS_KEYS must not hold AUDIT_HMAC_KEY" in result.stderr
    result = _manage("check", **{**PRODUCTION_ENV, "AUDIT_HMAC_PREVIOUS_KEYS": "short"})
    assert result.returncode != 0 and "32+ characters" in result.stderr
