"""Signal receivers of approvals: the policy step, Slack refreshes on decisions and reverts."""

from __future__ import annotations

from django.dispatch import receiver

from approvals.slack.delivery import queue_refresh, refresh_after_revert
from sgportal import events, publish


@receiver(events.changes_ingested, dispatch_uid="approvals.apply_policy")
def on_changes_ingested(sender, tenant_id: int, change_ids: list[int], **kwargs) -> None:
    # One task per stored page: the ingesting process never waits on Slack or decisions.
    if change_ids:
        publish.enqueue("approvals.tasks.apply_policy", [tenant_id, [int(pk) for pk in change_ids]])


@receiver(events.change_decided, dispatch_uid="approvals.refresh_on_decision")
def on_change_decided(sender, change_id: int, decision_id: int, **kwargs) -> None:
    queue_refresh(change_id)


@receiver(events.revert_finished, dispatch_uid="approvals.refresh_on_revert")
def on_revert_finished(sender, change_id: int, **kwargs) -> None:
    refresh_after_revert(change_id)
