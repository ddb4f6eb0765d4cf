"""Rate the changes stored before ``SecurityGroupChange.severity`` existed (issue 13), with
the same rating ingestion now applies to new ones (approvals.rating.rate_at_ingest)."""

from django.db import migrations

BATCH = 2000


def rate_stored(apps, schema_editor):
    from approvals.rating import rate_at_ingest

    Change = apps.get_model("ingestion", "SecurityGroupChange")
    todo = Change.objects.filter(severity=0).only("id", "rules", "via_spoke_role", "status")
    batch = []
    for change in todo.iterator(chunk_size=BATCH):
        change.severity = rate_at_ingest(change.rules or [], change.via_spoke_role, change.status)
        batch.append(change)
        if len(batch) >= BATCH:
            Change.objects.bulk_update(batch, ["severity"])
            batch = []
    if batch:
        Change.objects.bulk_update(batch, ["severity"])


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0005_policy_rules_exceptions_deadlines"),
        ("ingestion", "0010_change_severity_index"),
    ]

    operations = [migrations.RunPython(rate_stored, migrations.RunPython.noop, elidable=True)]
