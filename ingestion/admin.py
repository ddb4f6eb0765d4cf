"""Admin for ingestion: changes, poll runs and cursors, read-only and tenant-scoped."""

from __future__ import annotations

from django.contrib import admin

from ingestion.models import LakeCursor, PollRun, SecurityGroupChange
from sgportal.admin_base import ReadOnlyTenantAdmin


class TenantFilterForSuperusers:
    """A tenant filter lists every tenant's name: only superusers get it."""

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        return [*filters, "tenant"] if request.user.is_superuser else filters


@admin.register(SecurityGroupChange)
class SecurityGroupChangeAdmin(TenantFilterForSuperusers, ReadOnlyTenantAdmin):
    list_display = [
        "event_time",
        "event_name",
        "group_id",
        "aws_account_id",
        "region",
        "actor_arn",
        "status",
        "source",
        "has_parse_error",
    ]
    list_filter = ["status", "event_name", "source", "via_spoke_role"]
    search_fields = [
        "event_id",
        "group_id",
        "actor_arn",
        "aws_account_id",
        "parse_error",
        "parse_warnings",
    ]
    date_hierarchy = "event_time"
    list_select_related = ["tenant"]
    readonly_fields = ["parse_error", "parse_warnings"]

    @admin.display(boolean=True, description="parse error")
    def has_parse_error(self, obj: SecurityGroupChange) -> bool:
        return bool(obj.parse_error)


@admin.register(PollRun)
class PollRunAdmin(TenantFilterForSuperusers, ReadOnlyTenantAdmin):
    list_display = [
        "started_at",
        "tenant",
        "kind",
        "window_start",
        "window_end",
        "status",
        "rows_read",
        "new_changes",
        "duplicates",
        "unparseable",
        "bytes_scanned",
        "finished_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["query_id", "error"]
    list_select_related = ["tenant"]


@admin.register(LakeCursor)
class LakeCursorAdmin(ReadOnlyTenantAdmin):
    list_display = ["tenant", "watermark", "updated_at"]
    list_select_related = ["tenant"]
