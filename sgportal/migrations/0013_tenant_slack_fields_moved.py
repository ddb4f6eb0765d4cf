"""The Slack settings moved to approvals.SlackWorkspace (approvals 0008 carried them over)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('sgportal', '0012_tenant_sources_moved_to_ingestion'),
        ('approvals', '0008_slack_workspace'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='tenant',
            name='uniq_tenant_slack_team',
        ),
        migrations.RemoveField(
            model_name='tenant',
            name='slack_bot_token',
        ),
        migrations.RemoveField(
            model_name='tenant',
            name='slack_channel_id',
        ),
        migrations.RemoveField(
            model_name='tenant',
            name='slack_error',
        ),
        migrations.RemoveField(
            model_name='tenant',
            name='slack_status',
        ),
        migrations.RemoveField(
            model_name='tenant',
            name='slack_team_id',
        ),
    ]
