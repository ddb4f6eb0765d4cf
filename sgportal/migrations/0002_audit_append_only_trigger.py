"""Refuse UPDATE and DELETE of audit rows in the database itself (PostgreSQL).

SQLite (the laptop default) relies on the model and queryset refusals only.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION sgportal_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'sgportal_auditentry is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER sgportal_auditentry_append_only
    BEFORE UPDATE OR DELETE ON sgportal_auditentry
    FOR EACH ROW EXECUTE FUNCTION sgportal_audit_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS sgportal_auditentry_append_only ON sgportal_auditentry;
DROP FUNCTION IF EXISTS sgportal_audit_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("sgportal", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
