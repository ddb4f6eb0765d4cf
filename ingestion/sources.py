"""Action functions of the ingestion sources: health bookkeeping, the EventBridge secret,
and reconciliation figures (which source delivered what)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from ingestion.models import (
    SOURCE_BITS,
    EventBridgeSource,
    LakeSource,
    SecurityGroupChange,
    Source,
    SourceHealth,
    TrailDeadLetter,
    TrailSource,
    hash_secret,
    new_eventbridge_secret,
)
from sgportal.audit import record_audit
from sgportal.models import AuditAction, Tenant

SOURCE_MODELS: dict[str, type[SourceHealth]] = {
    Source.LAKE: LakeSource,
    Source.EVENTBRIDGE: EventBridgeSource,
    Source.TRAIL: TrailSource,
}


def record_delivery(
    model: type[SourceHealth], tenant_id: int, *, events: int, new: int, **counters: int
) -> None:
    """Count what a source delivered (``counters``: extra counter fields to add to)."""
    now = timezone.now()
    values: dict[str, Any] = {
        "events_delivered": F("events_delivered") + events,
        "new_changes": F("new_changes") + new,
        **{name: F(name) + n for name, n in counters.items() if n},
    }
    if events:
        values["last_delivery_at"] = now
    model.objects.filter(tenant_id=tenant_id).update(**values)


def record_source_error(model: type[SourceHealth], tenant_id: int, error: str) -> None:
    """Note a source's latest error (shown on the tenant page)."""
    model.objects.filter(tenant_id=tenant_id).update(
        last_error=error[:5000], last_error_at=timezone.now()
    )


def rotate_eventbridge_secret(tenant: Tenant, *, actor: Any, via: str = "admin") -> str:
    """Give the tenant a new EventBridge secret, audited; returns it (shown once: only its
    hash is kept). The previous secret stops working at once."""
    secret = new_eventbridge_secret()
    with transaction.atomic():
        source, _ = EventBridgeSource.objects.select_for_update().get_or_create(tenant=tenant)
        had_secret = bool(source.secret_hash)
        source.secret_hash = hash_secret(secret)
        source.secret_set_at = timezone.now()
        source.save(update_fields=["secret_hash", "secret_set_at"])
        record_audit(
            tenant,
            AuditAction.UPDATE,
            actor=actor,
            via=via,
            obj=source,
            object_repr=f"{tenant}: EventBridge secret {'rotated' if had_secret else 'set'}",
            before={"secret": "set" if had_secret else "unset"},
            after={"secret": "set", "secret_set_at": source.secret_set_at.isoformat()},
        )
    return secret


def set_eventbridge_secret(tenant: Tenant, secret: str) -> EventBridgeSource:
    """Store a known secret's hash (the demo's fixed secret); enables the source."""
    source, _ = EventBridgeSource.objects.update_or_create(
        tenant=tenant,
        defaults={
            "enabled": True,
            "secret_hash": hash_secret(secret),
            "secret_set_at": timezone.now(),
        },
    )
    return source


def only_delivered_by(tenant_id: int) -> dict[str, int]:
    """Per source: how many of the tenant's changes it alone delivered (what the others
    dropped, or have not delivered yet)."""
    bits = {bit: source for source, bit in SOURCE_BITS.items()}
    rows = (
        SecurityGroupChange.objects.filter(tenant_id=tenant_id, sources__in=list(bits))
        .values("sources")
        .annotate(n=Count("id"))
    )
    found = {bits[row["sources"]]: row["n"] for row in rows}
    return {source: found.get(source, 0) for source in SOURCE_BITS}


@dataclass(frozen=True)
class SourceReport:
    """How one of a tenant's sources is doing (the web status page and the API)."""

    source: str
    label: str
    configured: bool  # the tenant has a row for it
    enabled: bool
    last_delivery_at: Any = None
    events_delivered: int = 0
    new_changes: int = 0
    only_delivered: int = 0  # changes no other source delivered (what the others dropped)
    last_error: str = ""
    last_error_at: Any = None
    details: dict[str, Any] = field(default_factory=dict)  # what only this kind has


def _details(row: SourceHealth, tenant: Tenant) -> dict[str, Any]:
    if isinstance(row, LakeSource):
        return {"watermark": row.watermark, "last_success_at": row.last_success_at}
    if isinstance(row, TrailSource):
        return {
            "files_read": row.files_read,
            "files_skipped": row.files_skipped,
            "records_scanned": row.records_scanned,
            "last_file_at": row.last_file_at,
            "skipped_test_events": row.skipped_test_events,
            "skipped_digests": row.skipped_digests,
            "skipped_not_cloudtrail": row.skipped_not_cloudtrail,
            "dead_letters": TrailDeadLetter.objects.for_tenant(tenant).count(),
        }
    if isinstance(row, EventBridgeSource):
        return {"secret_set_at": row.secret_set_at}
    return {}


def source_reports(tenant: Tenant) -> list[SourceReport]:
    """Every source kind, in Source order, with its health and its reconciliation figure."""
    only = only_delivered_by(tenant.pk)
    reports = []
    for source, model in SOURCE_MODELS.items():
        row = model.objects.filter(tenant=tenant).first()
        label = Source(source).label
        if row is None:
            reports.append(
                SourceReport(
                    source,
                    label,
                    configured=False,
                    enabled=False,
                    only_delivered=only.get(source, 0),
                )
            )
            continue
        reports.append(
            SourceReport(
                source,
                label,
                configured=True,
                enabled=row.enabled,
                last_delivery_at=row.last_delivery_at,
                events_delivered=row.events_delivered,
                new_changes=row.new_changes,
                only_delivered=only.get(source, 0),
                last_error=row.last_error,
                last_error_at=row.last_error_at,
                details=_details(row, tenant),
            )
        )
    return reports


def read_role_arns(tenant: Tenant) -> list[str]:
    """The read roles the tenant's sources have sgportal assume (checked with the others by
    ``sgportal.aws_roles.check_tenant_roles``)."""
    roles = []
    for model in (LakeSource, TrailSource):
        roles += (
            model.objects.filter(tenant=tenant)
            .exclude(read_role_arn="")
            .values_list("read_role_arn", flat=True)
        )
    return roles
