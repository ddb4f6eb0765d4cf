"""Remediation figures for /metrics, read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterable

from sgportal.metrics import DbMetric, Sample, register_db_metric


def _failures() -> Iterable[Sample]:
    from django.db.models import Count

    from remediation.models import FAILED_OUTCOMES, RevertAttempt

    rows = (
        RevertAttempt.objects.filter(outcome__in=FAILED_OUTCOMES)
        .values("change__tenant__slug", "kind")
        .annotate(n=Count("id"))
    )
    for row in rows:
        yield {"tenant": row["change__tenant__slug"], "kind": row["kind"]}, float(row["n"])


def _running() -> Iterable[Sample]:
    from django.db.models import Count

    from remediation.models import AttemptStatus, RevertAttempt

    rows = (
        RevertAttempt.objects.filter(status=AttemptStatus.RUNNING)
        .values("change__tenant__slug")
        .annotate(n=Count("id"))
    )
    for row in rows:
        yield {"tenant": row["change__tenant__slug"]}, float(row["n"])


def register() -> None:
    register_db_metric(
        DbMetric(
            "sgportal_revert_failures_total",
            "Revert and undo attempts that ended failed, per tenant (alert on increase).",
            ("tenant", "kind"),
            _failures,
        )
    )
    register_db_metric(
        DbMetric(
            "sgportal_reverts_running",
            "Revert attempts currently running, per tenant.",
            ("tenant",),
            _running,
        )
    )
