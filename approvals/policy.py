"""The policy step: what happens to freshly ingested changes, per tenant default policy.

review: post to Slack (and the web queue shows them); auto_approve / auto_revert: decide
via "policy" at once. Only ``pending`` changes are touched; informational, ours and
unparseable ones are stored for the record only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from approvals.actions import DecisionError, decide
from approvals.models import Verdict, Via
from approvals.slack.delivery import queue_notification
from ingestion.models import ChangeStatus, SecurityGroupChange
from sgportal.models import Policy, Tenant

log = logging.getLogger(__name__)

POLICY_VERDICT = {Policy.AUTO_APPROVE: Verdict.APPROVE, Policy.AUTO_REVERT: Verdict.DENY}


def apply_policy(tenant_id: int, change_ids: Iterable[int]) -> dict[str, int]:
    """Notify or decide each pending change of the tenant; returns counts per outcome."""
    counts = {"notified": 0, "decided": 0, "skipped": 0}
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return counts
    changes = (
        SecurityGroupChange.objects.for_tenant(tenant)
        .filter(pk__in=list(change_ids), status=ChangeStatus.PENDING)
        .select_related("tenant", "account")
        .order_by("pk")
    )
    verdict = POLICY_VERDICT.get(tenant.default_policy)
    for change in changes:
        # A change made with sgportal's own revert role (and not one of its reverts) is
        # always put to a person, whatever the tenant's default.
        if verdict is None or change.via_spoke_role:
            with transaction.atomic():
                queue_notification(change)
            counts["notified"] += 1
            continue
        try:
            decide(
                change,
                verdict=verdict,
                actor=f"policy {tenant.default_policy}",
                via=Via.POLICY,
                reason=f"tenant default policy: {tenant.default_policy}",
            )
            counts["decided"] += 1
        except DecisionError as exc:  # a duplicate signal, or a human was faster
            log.info("policy skipped change %s: %s", change.pk, exc)
            counts["skipped"] += 1
    return counts
