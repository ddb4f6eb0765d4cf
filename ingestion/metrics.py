"""Prometheus figures of ingestion, read from the database at scrape time (see sgportal.metrics)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from sgportal.metrics import DbMetric, Sample, counts, register_db_metric


def _watermark_age() -> Iterable[Sample]:
    from ingestion.models import LakeSource

    now = timezone.now()
    for slug, watermark in LakeSource.objects.filter(
        tenant__active=True, enabled=True, watermark__isnull=False
    ).values_list("tenant__slug", "watermark"):
        yield {"tenant": slug}, (now - watermark).total_seconds()


def _unparseable() -> Iterable[Sample]:
    from ingestion.models import ChangeStatus, SecurityGroupChange

    unparseable = SecurityGroupChange.objects.filter(status=ChangeStatus.UNPARSEABLE)
    return counts(unparseable, tenant="tenant__slug")


def _eventbridge_rejected() -> Iterable[Sample]:
    from ingestion.eventbridge import rejection_counts

    for reason, n in rejection_counts().items():
        yield {"reason": reason}, float(n)


def _dead_letters() -> Iterable[Sample]:
    from ingestion.models import TrailDeadLetter

    return counts(TrailDeadLetter.objects.all(), tenant="tenant__slug")


def _trail_files_skipped() -> Iterable[Sample]:
    from ingestion.models import TrailSource
    from ingestion.trail import SKIP_REASONS

    fields = list(SKIP_REASONS.values())
    for slug, *per_reason in TrailSource.objects.values_list("tenant__slug", *fields):
        for reason, n in zip(SKIP_REASONS, per_reason, strict=True):
            yield {"tenant": slug, "reason": reason}, float(n)


def _trail_files_read() -> Iterable[Sample]:
    from ingestion.models import TrailSource

    for slug, n in TrailSource.objects.values_list("tenant__slug", "files_read"):
        yield {"tenant": slug}, float(n)


def _last_delivery_age() -> Iterable[Sample]:
    from ingestion.sources import SOURCE_MODELS

    now = timezone.now()
    for source, model in SOURCE_MODELS.items():
        rows = model.objects.filter(
            enabled=True, tenant__active=True, last_delivery_at__isnull=False
        )
        for slug, at in rows.values_list("tenant__slug", "last_delivery_at"):
            yield {"tenant": slug, "source": source}, (now - at).total_seconds()


def register() -> None:
    register_db_metric(
        DbMetric(
            "sgportal_eventbridge_rejected_requests",
            "Requests the EventBridge endpoint refused, by reason (nothing was stored).",
            ("reason",),
            _eventbridge_rejected,
        )
    )
    register_db_metric(
        DbMetric(
            "sgportal_trail_dead_letters",
            "Trail files parked after failing on every try, per tenant (see admin).",
            ("tenant",),
            _dead_letters,
        )
    )
    register_db_metric(
        DbMetric(
            "sgportal_trail_files_skipped",
            "Trail objects skipped, per tenant and reason (test_event, digest, not_cloudtrail).",
            ("tenant", "reason"),
            _trail_files_skipped,
        )
    )
    register_db_metric(
        DbMetric(
            "sgportal_trail_files_read",
            "Trail log files read and stored, per tenant.",
            ("tenant",),
            _trail_files_read,
        )
    )
    register_db_metric(
        DbMetric(
            "sgportal_source_last_delivery_age_seconds",
            "Seconds since each enabled source last delivered an event, per tenant.",
            ("tenant", "source"),
            _last_delivery_age,
        )
    )
    register_db_metric(
        DbMetric(
            "sgportal_lake_watermark_age_seconds",
            "Seconds since the Lake watermark (everything before it is stored), per tenant.",
            ("tenant",),
            _watermark_age,
        )
    )
    register_db_metric(
        DbMetric(
            "sgportal_unparseable_changes",
            "CloudTrail records kept but not understood, per tenant (see admin).",
            ("tenant",),
            _unparseable,
        )
    )
