"""Admin for approvals: decisions and Slack messages are system-written, so read-only."""

from django.contrib import admin

from approvals.models import Decision, SlackMessage
from sgportal.admin_base import ReadOnlyTenantAdmin


@admin.register(Decision)
class DecisionAdmin(ReadOnlyTenantAdmin):
    list_display = ("change", "verdict", "via", "actor_name", "decided_at")
    list_filter = ("verdict", "via")
    search_fields = ("actor_name", "change__group_id", "change__event_id")


@admin.register(SlackMessage)
class SlackMessageAdmin(ReadOnlyTenantAdmin):
    list_display = ("change", "status", "channel", "ts", "attempts")
    list_filter = ("status",)
    exclude = ("action_token",)  # the button secret stays out of the UI
