"""Events to webhooks, from the signals that already carry work between the apps (sent
after commit; see sgportal.events). Only delivery rows are written here: no payload, no
HTTP, so the announcing process (ingestion, a web request, a revert) never waits."""

from __future__ import annotations

from django.dispatch import receiver

from approvals.webhooks.actions import record_events
from approvals.webhooks.models import EventType
from sgportal import events


def _tenant_of_change(change_id: int) -> int | None:
    from ingestion.models import SecurityGroupChange

    return (
        SecurityGroupChange.objects.filter(pk=change_id).values_list("tenant_id", flat=True).first()
    )


@receiver(events.changes_ingested, dispatch_uid="webhooks.change_created")
def on_changes_ingested(sender, tenant_id: int, change_ids: list[int], **kwargs) -> None:
    record_events(
        tenant_id,
        EventType.CHANGE_CREATED,
        {str(pk): {"change_id": int(pk)} for pk in change_ids},
    )


@receiver(events.change_decided, dispatch_uid="webhooks.change_decided")
def on_change_decided(sender, change_id: int, decision_id: int, tenant_id: int, **kwargs) -> None:
    context = {"change_id": change_id, "decision_id": decision_id}
    record_events(tenant_id, EventType.CHANGE_DECIDED, {str(decision_id): context})


@receiver(events.revert_finished, dispatch_uid="webhooks.revert_finished")
def on_revert_finished(
    sender, change_id: int, attempt_id: int | None = None, outcome: str = "", **kwargs
) -> None:
    tenant_id = _tenant_of_change(change_id)
    if tenant_id is not None:
        context = {
            "change_id": change_id,
            "attempt_id": attempt_id,
            "outcome": str(outcome),
            "detail": str(kwargs.get("detail") or "")[:2000],
        }
        key = f"{attempt_id}:{outcome}" if attempt_id else f"{change_id}:{outcome}"
        record_events(tenant_id, EventType.REVERT_FINISHED, {key: context})
