"""Prometheus figures of ingestion, read from the database at scrape time (see sgportal.metrics)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from sgportal.metrics import DbMetric, Sample, counts, register_db_metric


def _watermark_age() -> Iterable[Sample]:
    from ingestion.models import LakeCursor

    now = timezone.now()
    for slug, watermark in LakeCursor.objects.filter(
        tenant__active=True, tenant__lake_enabled=True, watermark__isnull=False
    ).values_list("tenant__slug", "watermark"):
        yield {"tenant": slug}, (now - watermark).total_seconds()


def _unparseable() -> Iterable[Sample]:
    from ingestion.models import ChangeStatus, SecurityGroupChange

    unparseable = SecurityGroupChange.objects.filter(status=ChangeStatus.UNPARSEABLE)
    return counts(unparseable, tenant="tenant__slug")


def register() -> None:
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
