"""Compress the raw CloudTrail record with lz4 on PostgreSQL (14+, when built with lz4).

A record is 2-4 KB of JSON, just over the TOAST threshold: the default pglz compression of
every row was a large part of the ingestion cost; lz4 is several times cheaper.
"""

from django.db import migrations


def lz4_if_available(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or connection.pg_version < 140000:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        row = cursor.fetchone()
        if row and row[0]:
            cursor.execute(
                "ALTER TABLE ingestion_securitygroupchange ALTER COLUMN raw SET COMPRESSION lz4"
            )


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0002_lake_polling")]

    operations = [migrations.RunPython(lz4_if_available, migrations.RunPython.noop)]
