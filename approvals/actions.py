"""PLACEHOLDER until the approvals branch merges: the approvals helper owns decide().

Only what remediation's tests need: create the Decision, audit it, send change_decided on
commit. No policy, no transitions beyond the contract's minimum. Replace wholesale on merge.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from approvals.models import Decision
from ingestion.models import SecurityGroupChange
from sgportal.audit import actor_name_of, record_audit
from sgportal.events import change_decided
from sgportal.models import AuditAction


class AlreadyDecided(Exception):
    pass


class InvalidTransition(Exception):
    pass


_UNDOABLE = ("reverted", "auto_reverted")


def decide(change: SecurityGroupChange, *, verdict, actor, via, reason: str = "") -> Decision:
    with transaction.atomic():
        change = SecurityGroupChange.objects.select_for_update().get(pk=change.pk)
        if verdict == "undo_revert" and change.status not in _UNDOABLE:
            raise InvalidTransition(f"cannot undo a revert of a {change.status} change")
        if verdict == "deny":
            SecurityGroupChange.objects.filter(pk=change.pk).update(status="denied")
        user = actor if getattr(actor, "pk", None) else None
        decision = Decision.objects.create(
            change=change,
            verdict=verdict,
            via=via,
            user=user,
            actor_name=actor_name_of(actor),
            reason=reason,
            decided_at=timezone.now(),
        )
        record_audit(change.tenant_id, AuditAction.DECIDE, actor=actor, via=via, obj=decision)
        transaction.on_commit(
            lambda: change_decided.send(
                sender=Decision, change_id=change.pk, decision_id=decision.pk
            )
        )
    return decision
