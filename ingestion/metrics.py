"""Prometheus figures of ingestion, read from the database at scrape time (see sgportal.metrics)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count
from django.utils import timezone

from sgportal.metrics import DbMetric, Sample, register_db_metric


def _watermark_age() -> Iterable[Sample]:
    from ingestion.models import LakeCursor

    now = timezone.now()
    for slug, watermark in LakeCursor.objects.filter(
        tenant__active=True, tenant__lake_enabled=True, watermark__isnull=False
    ).values_list("tenant__slug", "watermark"):
        yield {"tenant": slug}, (now - watermark).total_seconds()


def _unparseable() -> Iterable[Sample]:
    from ingestion.models import ChangeStatus, SecurityGroupChange

    rows = (
        SecurityGroupChange.objects.filter(status=ChangeStatus.UNPARSEABLE)
        .values("tenant__slug")
        .annotate(n=Count("id"))
    )
    for row in rows:
        yield {"tenant": row["tenant__slug"]}, float(row["n"])


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
