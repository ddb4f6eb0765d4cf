"""Remediation's sweep: find revert work whose task seems lost, for beat to send again."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from approvals.models import Decision, Verdict
from ingestion.models import ChangeStatus
from remediation.models import AttemptKind, AttemptStatus, RevertAttempt


def stale_work(
    older_than_s: int, unclaimed_after_s: int | None = None
) -> list[tuple[str, int, int | None]]:
    """(kind, change id, decision id) of work whose task seems lost: attempts still running
    after ``older_than_s`` (longer than a task may run), and denials no worker has picked
    up after ``unclaimed_after_s`` (default: the same). A worker claims a denial as soon as
    it takes the task, before waiting for the account's slot, so an unclaimed denial minutes
    old lost its task; re-sending it early costs at most a duplicate that changes nothing."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_s)
    unclaimed_cutoff = now - timedelta(
        seconds=older_than_s if unclaimed_after_s is None else unclaimed_after_s
    )
    work: list[tuple[str, int, int | None]] = [
        (kind, change_id, decision_id)
        for kind, change_id, decision_id in RevertAttempt.objects.filter(
            status=AttemptStatus.RUNNING, started_at__lt=cutoff
        ).values_list("kind", "change_id", "decision_id")
    ]
    lost = Decision.objects.filter(
        verdict=Verdict.DENY,
        decided_at__lt=unclaimed_cutoff,
        change__status=ChangeStatus.DENIED,
        change__revert_attempts__isnull=True,
    ).values_list("change_id", "id")
    work += [(AttemptKind.REVERT, change_id, decision_id) for change_id, decision_id in lost]
    return work
