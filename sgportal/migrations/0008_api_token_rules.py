"""API token rules (issue 14, issue 9 finding 12): sgp_ + checksum tokens stored as a hash of
the whole token, expiry, last use (time and IP), and a revocation nothing can undo: a
trigger refuses any UPDATE that clears or moves a set ``revoked_at``.

Tokens of the old format (sgp_<hex id>_<secret>) cannot be checked against the new hash: they
are revoked here, recorded as such in the row (re-issue them with createtoken)."""

import hashlib

from django.db import migrations, models
from django.utils import timezone

TABLE = "sgportal_apitoken"

PG_TRIGGER = f"""
CREATE OR REPLACE FUNCTION sgportal_apitoken_revocation_final() RETURNS trigger AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'A revoked API token stays revoked (token %%).', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS sgportal_apitoken_revocation_final ON {TABLE};
CREATE TRIGGER sgportal_apitoken_revocation_final BEFORE UPDATE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION sgportal_apitoken_revocation_final();
"""
PG_DROP = f"""
DROP TRIGGER IF EXISTS sgportal_apitoken_revocation_final ON {TABLE};
DROP FUNCTION IF EXISTS sgportal_apitoken_revocation_final();
"""
SQLITE_TRIGGER = f"""
CREATE TRIGGER IF NOT EXISTS sgportal_apitoken_revocation_final BEFORE UPDATE OF revoked_at
ON {TABLE} FOR EACH ROW
WHEN OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NOT OLD.revoked_at
BEGIN SELECT RAISE(ABORT, 'A revoked API token stays revoked.'); END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS sgportal_apitoken_revocation_final;"


def revoke_old_format(apps, schema_editor):
    ApiToken = apps.get_model("sgportal", "ApiToken")
    now = timezone.now()
    for token in ApiToken.objects.all():
        token.token_hash = hashlib.sha256(f"legacy:{token.secret_hash}".encode()).hexdigest()
        if token.revoked_at is None:
            token.revoked_at = now
            token.revoked_by_name = "migration: old token format, re-issue with createtoken"
        token.save(update_fields=["token_hash", "revoked_at", "revoked_by_name"])


def create_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_TRIGGER)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


def drop_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("sgportal", "0007_tenant_external_id_required"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="token_hash",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="revoked_by_name",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.RunPython(revoke_old_format, migrations.RunPython.noop),
        migrations.RemoveField(model_name="apitoken", name="secret_hash"),
        migrations.AlterField(
            model_name="apitoken",
            name="token_hash",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="key_id",
            field=models.CharField(
                help_text="The token's first characters after sgp_, to recognise it.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(blank=True, help_text="Empty: never expires.", null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="last_used_ip",
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
