"""Admin: revert attempts (plan, snapshots, result) and the rule inventory, read-only."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from remediation.models import InventoryRule, InventoryRuleVersion, RevertAttempt
from sgportal.admin_base import ReadOnlyTenantAdmin


def _pretty(value) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap">{}</pre>', json.dumps(value, indent=2, default=str)
    )


@admin.register(RevertAttempt)
class RevertAttemptAdmin(ReadOnlyTenantAdmin):
    list_display = ["id", "change", "kind", "status", "outcome", "actor_name", "dry_run", "tries"]
    list_filter = ["kind", "status", "outcome", "dry_run"]
    search_fields = ["change__group_id", "change__event_id", "actor_name"]
    list_select_related = ["change"]
    fields = [
        "change",
        "decision",
        "kind",
        "status",
        "outcome",
        "detail",
        "error_code",
        "actor_name",
        "source_identity",
        "role_arn",
        "dry_run",
        "tries",
        "aws_request_id",
        "started_at",
        "finished_at",
        "plan_pretty",
        "calls_pretty",
        "before_pretty",
        "after_pretty",
    ]
    readonly_fields = fields

    @admin.display(description="plan")
    def plan_pretty(self, obj):
        return _pretty(obj.plan)

    @admin.display(description="calls and results")
    def calls_pretty(self, obj):
        return _pretty(obj.calls)

    @admin.display(description="rules before")
    def before_pretty(self, obj):
        return _pretty(obj.before)

    @admin.display(description="rules after")
    def after_pretty(self, obj):
        return _pretty(obj.after)


class VersionInline(admin.TabularInline):
    model = InventoryRuleVersion
    fields = ["first_seen_at", "last_seen_at", "origin", "definition"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(InventoryRule)
class InventoryRuleAdmin(ReadOnlyTenantAdmin):
    list_display = ["rule_id", "group_id", "account", "region", "present", "refreshed_at"]
    list_filter = ["present", "region"]
    search_fields = ["rule_id", "group_id"]
    readonly_fields = [
        "tenant",
        "account",
        "region",
        "group_id",
        "rule_id",
        "definition",
        "present",
        "refreshed_at",
    ]
    inlines = [VersionInline]
