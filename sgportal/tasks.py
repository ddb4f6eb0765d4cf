"""sgportal's Celery tasks (beat entries in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from sgportal.checkpoints import write_checkpoint

AUDIT_CHECKPOINT = "sgportal.tasks.audit_checkpoint"


@shared_task(name=AUDIT_CHECKPOINT, acks_late=True)
def audit_checkpoint() -> list[str]:
    """Write a signed checkpoint of every audit chain head (a failed store raises)."""
    return write_checkpoint()
