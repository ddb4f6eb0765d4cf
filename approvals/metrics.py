"""Approvals figures for /metrics, read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterable

from sgportal.metrics import DbMetric, Sample, counts, register_db_metric


def _unsent() -> Iterable[Sample]:
    """Slack messages of changes still waiting for a decision that are not in Slack."""
    from approvals.models import SlackMessage, SlackMessageStatus
    from ingestion.models import ChangeStatus

    unsent = SlackMessage.objects.filter(change__status=ChangeStatus.PENDING).exclude(
        status=SlackMessageStatus.POSTED
    )
    return counts(unsent, tenant="change__tenant__slug", status="status")


def register() -> None:
    register_db_metric(
        DbMetric(
            "sgportal_slack_messages_unsent",
            "Slack messages of pending changes not (yet) in Slack, by status "
            "(pending: queued; skipped: Slack not configured or broken; failed: given up).",
            ("tenant", "status"),
            _unsent,
        )
    )
