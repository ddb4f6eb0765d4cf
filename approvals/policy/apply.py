"""The policy step: what happens to freshly ingested changes.

Each pending change is evaluated against its tenant's compiled policy (see
``approvals.policy.engine``); the outcome is stored as a ``PolicyMatch`` (rule, severity,
who may decide, deadline) together with the change's severity, and then:

- ``review``: post to Slack (in the rule's channel; bursts are grouped, see
  ``approvals.policy.digest``) and the web queue shows it; the deadline sweep takes over;
- ``auto_approve`` / ``auto_revert``: decide via ``policy`` at once, audited with the rule;
- ``notify``: approve via ``policy`` and post the (decided) message: a flag, no question.

Only ``pending`` changes without a PolicyMatch are touched, and the match, the severity and
any decision commit together: a redelivered task does nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from approvals.actions import DecisionError, decide
from approvals.models import Verdict, Via
from approvals.policy.engine import Evaluation, evaluate, facts_of, policy_for
from approvals.policy.models import DeadlineStage, PolicyMatch, RuleAction
from ingestion.models import ChangeStatus, SecurityGroupChange
from sgportal.models import Tenant

log = logging.getLogger(__name__)

POLICY_VERDICT = {
    RuleAction.AUTO_APPROVE: Verdict.APPROVE,
    RuleAction.AUTO_REVERT: Verdict.DENY,
    RuleAction.NOTIFY: Verdict.APPROVE,
}


def policy_actor(outcome: Evaluation) -> str:
    return f"policy {outcome.action} ({outcome.label})"[:300]


def match_row(change: SecurityGroupChange, outcome: Evaluation, now) -> PolicyMatch:
    """The PolicyMatch to store for ``change`` under ``outcome`` (not saved)."""
    deadline = outcome.deadline_minutes if outcome.action == RuleAction.REVIEW else None
    return PolicyMatch(
        change=change,
        tenant_id=change.tenant_id,
        rule_id=outcome.rule_id,
        exception_id=outcome.exception_id,
        rule_name=outcome.name[:120],
        severity=outcome.severity,
        action=outcome.action,
        slack_channel=outcome.slack_channel,
        reviewer_group_id=outcome.reviewer_group_id,
        escalation_group_id=outcome.escalation_group_id,
        escalation_channel=outcome.escalation_channel,
        deadline_minutes=deadline,
        default_outcome=outcome.default_outcome if deadline else "",
        due_at=now + timedelta(minutes=deadline) if deadline else None,
        stage=DeadlineStage.WAITING if deadline else DeadlineStage.NONE,
    )


def apply_policy(tenant_id: int, change_ids: Iterable[int]) -> dict[str, int]:
    """Evaluate, record and act on each pending change of the tenant; counts per outcome."""
    from approvals.policy import digest

    counts = {"notified": 0, "decided": 0, "skipped": 0}
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return counts
    policy = policy_for(tenant)
    changes = (
        SecurityGroupChange.objects.for_tenant(tenant)
        .filter(pk__in=list(change_ids), status=ChangeStatus.PENDING, policy_match__isnull=True)
        .select_related("tenant__slack_workspace", "account")
        .order_by("pk")
    )
    now = timezone.now()
    for change in changes:
        outcome = evaluate(policy, facts_of(change), now)
        with transaction.atomic():
            match = match_row(change, outcome, now)
            match.save(force_insert=True)
            SecurityGroupChange.objects.filter(pk=change.pk).update(severity=outcome.severity)
            change.severity = outcome.severity
            verdict = POLICY_VERDICT.get(outcome.action)
            if verdict is not None:
                try:
                    decide(
                        change,
                        verdict=verdict,
                        actor=policy_actor(outcome),
                        via=Via.POLICY,
                        reason=f"{outcome.label}: {outcome.action}",
                    )
                    counts["decided"] += 1
                except DecisionError as exc:  # a human was faster
                    log.info("policy skipped change %s: %s", change.pk, exc)
                    counts["skipped"] += 1
            if verdict is None or outcome.action == RuleAction.NOTIFY:
                digest.notify(change, outcome)
                counts["notified"] += verdict is None
    return counts
