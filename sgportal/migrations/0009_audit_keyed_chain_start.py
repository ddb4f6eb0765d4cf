"""Record where each tenant's keyed (HMAC) audit chain starts.

Entries written before this migration carry plain SHA-256 hashes and keep them (the log is
append-only: nothing is rewritten). Each existing chain head gets ``keyed_from_seq`` = its
seq + 1, so ``verify_audit`` checks the old entries as SHA-256 and every later one as
HMAC-SHA256 keyed by AUDIT_HMAC_KEY. The first keyed entry's HMAC covers the last old
entry's hash, so the old part cannot be rewritten either without breaking the keyed part;
signed checkpoints record ``keyed_from_seq`` so moving it is caught too.

Stop every writer (web, worker, beat) while this runs: an entry that old code appends after
it would be unkeyed past the recorded start and fail verification.
"""

from django.db import migrations, models
from django.db.models import F


def record_keyed_start(apps, schema_editor):
    head = apps.get_model("sgportal", "AuditChainHead")
    head.objects.using(schema_editor.connection.alias).update(keyed_from_seq=F("seq") + 1)


class Migration(migrations.Migration):
    dependencies = [("sgportal", "0008_api_token_rules")]

    operations = [
        migrations.AddField(
            model_name="auditchainhead",
            name="keyed_from_seq",
            field=models.PositiveBigIntegerField(default=1),
        ),
        migrations.RunPython(record_keyed_start, migrations.RunPython.noop),
    ]
