"""The Slack settings moved to approvals.SlackWorkspace (approvals 0009 carried them over)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('sgportal', '0014_tenant_deny_reason_required'),
        ('approvals', '0009_slack_workspace'),
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
