"""The tenant's ExternalId becomes required and unique once every tenant has one (0006); a
separate migration because PostgreSQL refuses ALTER TABLE with the data migration's
trigger events still pending in the same transaction."""

import re

import django.core.validators
from django.db import migrations, models

import sgportal.models.tenancy


class Migration(migrations.Migration):

    dependencies = [
        ('sgportal', '0006_tenant_external_id_and_role_checks'),
    ]

    operations = [
        migrations.AlterField(
            model_name='tenant',
            name='external_id',
            field=models.CharField(default=sgportal.models.tenancy.new_external_id, editable=False, max_length=64, unique=True, validators=[django.core.validators.RegexValidator(re.compile('^[\\w+=,.@:/-]{2,1224}$'), 'An ExternalId is 2-1224 characters of letters, digits and +=,.@:/-_.')]),
        ),
    ]
