"""sgportal's Celery tasks (beat entries in settings.CELERY_BEAT_SCHEDULE), and the one base
task that gives up."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from sgportal import aws_roles
from sgportal.checkpoints import write_checkpoint

AUDIT_CHECKPOINT = "sgportal.tasks.audit_checkpoint"
CHECK_ROLES = "sgportal.tasks.check_role_trusts"
CHECK_TENANT_ROLES = "sgportal.tasks.check_tenant_role_trusts"


class GiveUpTask(Task):
    """The one way a task gives up. When a call fails for good (its retries ran out, or an
    error it does not retry), ``on_failure`` hands the error to ``give_up``; a task that
    retries by hand and would rather end with a value asks ``out_of_retries`` and calls
    ``give_up`` itself. Subclasses say what giving up means for their rows (a revert attempt
    recorded as failed, a Slack post marked failed); by default nothing is recorded (Celery
    logs the failure)."""

    def give_up(self, exc: BaseException, args: tuple, kwargs: dict[str, Any]) -> None:
        """Record that this call's work is abandoned because of ``exc``."""

    def out_of_retries(self) -> bool:
        """Whether this call was the last try ``max_retries`` allows."""
        return self.max_retries is not None and self.request.retries >= self.max_retries

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        self.give_up(exc, tuple(args or ()), dict(kwargs or {}))


@shared_task(name=AUDIT_CHECKPOINT, acks_late=True)
def audit_checkpoint() -> list[str]:
    """Write a signed checkpoint of every audit chain head (a failed store raises)."""
    return write_checkpoint()


@shared_task(name=CHECK_ROLES, acks_late=True)
def check_role_trusts() -> dict[str, int]:
    """Re-check that every tenant's roles still require its ExternalId."""
    return aws_roles.check_all_tenants()


@shared_task(name=CHECK_TENANT_ROLES, acks_late=True)
def check_tenant_role_trusts(tenant_id: int, actor_id: int | None = None) -> dict[str, int]:
    """Check one tenant's roles now (an account was saved with a spoke role to verify),
    audited as the admin who saved it. Returns the number of checks per status."""
    from django.contrib.auth import get_user_model

    from sgportal.models import Tenant

    tenant = Tenant.objects.filter(pk=tenant_id, active=True).first()
    if tenant is None:
        return {}
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    counts: dict[str, int] = {}
    for check in aws_roles.check_tenant_roles(tenant, actor=actor, via="admin"):
        counts[check.status] = counts.get(check.status, 0) + 1
    return counts
