"""Refuse TRUNCATE of the audit log, and any change of a chain head but one step forward
onto the entry just appended (PostgreSQL; SQLite relies on the model refusals only).

Hand-written like 0002 rather than with django-pgtrigger: five fixed triggers in plain SQL,
one of them a statement-level TRUNCATE trigger and one a conditional head check that needs a
lookup in the entries table; no code path may ever bypass them (pgtrigger's ``ignore()`` is
the feature that would have been worth a dependency, and here it would only be a bypass).
A database owner can still switch triggers off; the HMAC chain and the signed checkpoints
outside the database are what catch that.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION sgportal_audit_refuse_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: TRUNCATE refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER sgportal_auditentry_no_truncate
    BEFORE TRUNCATE ON sgportal_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION sgportal_audit_refuse_truncate();
CREATE TRIGGER sgportal_auditchainhead_no_truncate
    BEFORE TRUNCATE ON sgportal_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION sgportal_audit_refuse_truncate();

CREATE OR REPLACE FUNCTION sgportal_audit_head_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'sgportal_auditchainhead: DELETE refused'
            USING ERRCODE = 'insufficient_privilege';
    ELSIF TG_OP = 'INSERT' THEN
        IF NEW.seq <> 0 OR NEW.hash <> repeat('0', 64) OR NEW.keyed_from_seq <> 1 THEN
            RAISE EXCEPTION 'sgportal_auditchainhead: a chain head starts empty; INSERT refused'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.id <> OLD.id OR NEW.tenant_id <> OLD.tenant_id
       OR NEW.keyed_from_seq <> OLD.keyed_from_seq OR NEW.seq <> OLD.seq + 1
       OR NOT EXISTS (
           SELECT 1 FROM sgportal_auditentry e
           WHERE e.tenant_id = NEW.tenant_id AND e.seq = NEW.seq
             AND e.hash = NEW.hash AND e.prev_hash = OLD.hash
       ) THEN
        RAISE EXCEPTION 'sgportal_auditchainhead: a head only moves one step forward onto '
            'the entry just appended; UPDATE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER sgportal_auditchainhead_guard
    BEFORE INSERT OR UPDATE OR DELETE ON sgportal_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION sgportal_audit_head_guard();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS sgportal_auditchainhead_guard ON sgportal_auditchainhead;
DROP FUNCTION IF EXISTS sgportal_audit_head_guard();
DROP TRIGGER IF EXISTS sgportal_auditchainhead_no_truncate ON sgportal_auditchainhead;
DROP TRIGGER IF EXISTS sgportal_auditentry_no_truncate ON sgportal_auditentry;
DROP FUNCTION IF EXISTS sgportal_audit_refuse_truncate();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("sgportal", "0009_audit_keyed_chain_start")]
    operations = [migrations.RunPython(forward, backward)]
