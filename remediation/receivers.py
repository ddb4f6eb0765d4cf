"""Signal receivers (imported by RemediationConfig.ready): the only way work reaches us.

- ``change_decided``: a deny enqueues ``revert_change``; an undo_revert enqueues
  ``undo_revert``. Sent by approvals after the decision committed.
- ``changes_ingested``: enqueue ``refresh_inventory`` so the rule inventory follows every
  group we have seen change.
"""

from __future__ import annotations

from django.dispatch import receiver

from approvals.models import Decision, Verdict
from remediation import tasks
from sgportal import events


@receiver(events.change_decided, dispatch_uid="remediation.on_change_decided")
def on_change_decided(
    sender, *, change_id: int, decision_id: int, verdict: str | None = None, **kwargs
) -> None:
    if verdict is None:  # a sender that does not say: look it up
        verdict = Decision.objects.filter(pk=decision_id).values_list("verdict", flat=True).first()
    if verdict == Verdict.DENY:
        tasks.enqueue(tasks.revert_change, change_id, decision_id)
    elif verdict == Verdict.UNDO_REVERT:
        tasks.enqueue(tasks.undo_revert, change_id, decision_id)


@receiver(events.changes_ingested, dispatch_uid="remediation.on_changes_ingested")
def on_changes_ingested(sender, *, tenant_id: int, change_ids: list[int], **kwargs) -> None:
    if change_ids:
        tasks.enqueue(tasks.refresh_inventory, [int(pk) for pk in change_ids])
