"""Remediation figures for /metrics, read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterable

from sgportal.metrics import DbMetric, Sample, counts, register_db_metric


def _failures() -> Iterable[Sample]:
    from remediation.models import FAILED_OUTCOMES, RevertAttempt

    failed = RevertAttempt.objects.filter(outcome__in=FAILED_OUTCOMES)
    return counts(failed, tenant="change__tenant__slug", kind="kind")


def _running() -> Iterable[Sample]:
    from remediation.models import AttemptStatus, RevertAttempt

    running = RevertAttempt.objects.filter(status=AttemptStatus.RUNNING)
    return counts(running, tenant="change__tenant__slug")


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
