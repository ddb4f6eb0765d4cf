"""Admin for ingestion: changes, poll runs and dead letters (read-only, tenant-scoped), and
the tenant's sources as inlines on the tenant page."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from ingestion.models import (
    EventBridgeSource,
    LakeSource,
    PollRun,
    SecurityGroupChange,
    TrailDeadLetter,
    TrailSource,
    source_names,
)
from ingestion.sources import only_delivered_by, rotate_eventbridge_secret
from sgportal.admin import extend_tenant_admin
from sgportal.admin_base import ReadOnlyTenantAdmin, TenantInline


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
        "delivered_by",
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

    @admin.display(description="sources")
    def delivered_by(self, obj: SecurityGroupChange) -> str:
        return ", ".join(source_names(obj.sources)) or obj.source


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


@admin.register(TrailDeadLetter)
class TrailDeadLetterAdmin(TenantFilterForSuperusers, ReadOnlyTenantAdmin):
    """Trail files that failed on every try (see ingestion.trail)."""

    list_display = ["parked_at", "tenant", "bucket", "key", "receive_count", "error"]
    search_fields = ["key", "error", "message_id"]
    list_select_related = ["tenant"]


# --- the tenant's sources, inline on the tenant page ------------------------------------
HEALTH = [
    "last_delivery_at",
    "events_delivered",
    "new_changes",
    "only_this_source",
    "last_error_at",
    "last_error",
]


class SourceInline(TenantInline):
    """A source's settings (editable) and its health (read-only)."""

    def get_readonly_fields(self, request, obj=None):
        return [*self.extra_readonly, *HEALTH]

    extra_readonly: tuple[str, ...] = ()

    @admin.display(description="changes only this source delivered")
    def only_this_source(self, obj) -> int | str:
        if not obj.pk:
            return "-"
        return only_delivered_by(obj.tenant_id)[obj.source]


class LakeSourceInline(SourceInline):
    model = LakeSource
    fields = [
        "enabled",
        "event_data_store",
        "region",
        "owner_account_id",
        "read_role_arn",
        "watermark",
        "last_success_at",
        *HEALTH,
    ]
    extra_readonly = ("watermark", "last_success_at")


class EventBridgeSourceInline(SourceInline):
    model = EventBridgeSource
    fields = ["enabled", "secret", *HEALTH]
    extra_readonly = ("secret",)

    @admin.display(description="secret (X-SGPortal-Secret)")
    def secret(self, obj) -> str:
        if not obj.pk or not obj.secret_hash:
            return "Not set: use the action “Generate a new EventBridge secret” on the tenant list."
        return (
            f"Set {timezone.localtime(obj.secret_set_at):%Y-%m-%d %H:%M %Z}; only its hash is "
            "kept. Generate a new one with the action on the tenant list."
        )


TRAIL_COUNTERS = (
    "files_read",
    "records_scanned",
    "last_file_at",
    "files_skipped",
    "skipped_test_events",
    "skipped_digests",
    "skipped_not_cloudtrail",
    "dead_letters",
)


class TrailSourceInline(SourceInline):
    model = TrailSource
    fields = [
        "enabled",
        "queue_url",
        "region",
        "read_role_arn",
        "bucket",
        "prefix",
        *TRAIL_COUNTERS,
        *HEALTH,
    ]
    extra_readonly = TRAIL_COUNTERS

    @admin.display(description="dead letters")
    def dead_letters(self, obj) -> int | str:
        return TrailDeadLetter.objects.filter(tenant_id=obj.tenant_id).count() if obj.pk else "-"


@admin.action(description="Generate a new EventBridge secret (shown once)")
def generate_eventbridge_secret(modeladmin, request, queryset):
    secrets = [(t, rotate_eventbridge_secret(t, actor=request.user)) for t in queryset]
    response = TemplateResponse(
        request,
        "admin/ingestion/eventbridge_secret.html",
        {
            **modeladmin.admin_site.each_context(request),
            "opts": modeladmin.opts,
            "secrets": secrets,
            "title": "New EventBridge secret",
        },
    )
    response["Cache-Control"] = "no-store"
    return response


extend_tenant_admin(
    inlines=(LakeSourceInline, EventBridgeSourceInline, TrailSourceInline),
    actions=(generate_eventbridge_secret,),
)
