"""sgportal's Celery tasks (beat entries in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from sgportal import aws_roles
from sgportal.checkpoints import write_checkpoint

AUDIT_CHECKPOINT = "sgportal.tasks.audit_checkpoint"
CHECK_ROLES = "sgportal.tasks.check_role_trusts"


@shared_task(name=AUDIT_CHECKPOINT, acks_late=True)
def audit_checkpoint() -> list[str]:
    """Write a signed checkpoint of every audit chain head (a failed store raises)."""
    return write_checkpoint()


@shared_task(name=CHECK_ROLES, acks_late=True)
def check_role_trusts() -> dict[str, int]:
    """Re-check that every tenant's roles still require its ExternalId."""
    return aws_roles.check_all_tenants()
