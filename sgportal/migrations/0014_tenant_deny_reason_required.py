from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sgportal", "0013_audit_entry_key_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="deny_reason_required",
            field=models.BooleanField(
                default=True,
                help_text="A deny must say why (web, API and Slack alike; a Slack Deny button "
                "cannot carry a reason, so it points to the change page).",
            ),
        ),
    ]
