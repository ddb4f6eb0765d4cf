"""Celery tasks: thin wrappers that take primary keys and call remediation.attempts,
``inventory`` and ``sweeps``.

They run on the remediation queue (``settings.REMEDIATION_QUEUE``); acks_late and
reject-on-worker-lost are global, so a killed worker's task is redelivered, and the
attempts make that harmless. Only named transient errors are retried, with backoff and
jitter; when the tries run out the attempt is recorded as failed (never retried forever).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from remediation import attempts, inventory, sweeps
from remediation.concurrency import AccountBusy, AttemptBusy
from remediation.errors import TransientAwsError
from sgportal import publish
from sgportal.tasks import GiveUpTask

REVERT_CHANGE = "remediation.tasks.revert_change"
UNDO_REVERT = "remediation.tasks.undo_revert"
REFRESH_INVENTORY = "remediation.tasks.refresh_inventory"
RESUME_STALE = "remediation.tasks.resume_stale_attempts"

_RETRY = {
    "autoretry_for": (TransientAwsError, AccountBusy, AttemptBusy),
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    # The attempt row counts AWS tries (REMEDIATION_MAX_TRIES) and gives up by itself; this
    # higher cap only bounds waiting for a busy account or a still-running attempt.
    "max_retries": 50,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


class RemediationTask(GiveUpTask):
    """Records the attempt as failed when the task itself gives up (retries exhausted)."""

    def give_up(self, exc, args, kwargs) -> None:
        change_id = args[0] if args else kwargs.get("change_id")
        if change_id is not None:
            attempts.give_up_change(
                change_id,
                f"the {self.name} task gave up: {type(exc).__name__}: {exc}",
                type(exc).__name__,
            )


def _run(start, change_id: int, decision_id: int | None) -> str | None:
    attempt = start(change_id, decision_id)
    if attempt is None:
        return None
    return attempts.execute_attempt(attempt)


@shared_task(name=REVERT_CHANGE, bind=True, base=RemediationTask, **_RETRY)
def revert_change(self, change_id: int, decision_id: int | None = None) -> str | None:
    """Revert a denied change in its member account (idempotent; safe to redeliver)."""
    return _run(attempts.start_revert, change_id, decision_id)


@shared_task(name=UNDO_REVERT, bind=True, base=RemediationTask, **_RETRY)
def undo_revert(self, change_id: int, decision_id: int | None = None) -> str | None:
    """Re-apply exactly what a revert removed (or remove what it re-added)."""
    return _run(attempts.start_undo, change_id, decision_id)


@shared_task(
    name=REFRESH_INVENTORY,
    autoretry_for=(TransientAwsError,),
    retry_backoff=2,
    retry_jitter=True,
    max_retries=5,
)
def refresh_inventory(change_ids: list[int]) -> int:
    """Seed the rule inventory from these changes and describe the groups they touch."""
    return inventory.refresh_groups(change_ids)


@shared_task(name=RESUME_STALE)
def resume_stale_attempts() -> int:
    """Beat: re-enqueue reverts whose task was lost (broker restart, a dropped publish).
    Duplicates are harmless: the claim and the attempt lock make them no-ops."""
    work = sweeps.stale_work(
        settings.REMEDIATION_STALE_AFTER_S, settings.REMEDIATION_UNCLAIMED_AFTER_S
    )
    for kind, change_id, decision_id in work:
        enqueue(undo_revert if kind == "undo" else revert_change, change_id, decision_id)
    return len(work)


def enqueue(task, *args) -> None:
    """Send a remediation task onto the remediation queue (runs inline when eager)."""
    publish.enqueue(task, args, queue=settings.REMEDIATION_QUEUE)
