"""A tenant's compiled policy and the evaluation of one change against it.

Order of evaluation (first that applies wins):

1. emergency mode: a change opening access to the world is auto-reverted;
2. exceptions (unexpired allow-list entries): auto-approve — never for a change made with
   sgportal's own revert role outside sgportal;
3. the tenant's rules, in order;
4. the built-in default rules (``DEFAULT_RULES``), whose action is the tenant's
   ``default_policy`` and whose deadline is its ``decision_timeout_minutes``.

A change made with sgportal's revert role is always put to a person at the highest
severity, whatever rule matched (an auto-approve or notify becomes a review).

Compiled policies are cached per process and per tenant, keyed by ``TenantPolicy.version``
(bumped by every save or delete of a rule or exception) and the tenant's defaults, so a
page of changes costs one small query to check the cache and no query per change.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, replace
from typing import Any

from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from approvals import wording
from approvals.policy.matcher import (
    Facts,
    RuleSet,
    compile_match,
    perm_of,
    tags_of,
)
from approvals.policy.models import (
    DefaultOutcome,
    PolicyException,
    PolicyRule,
    RuleAction,
    Severity,
    TenantPolicy,
)
from sgportal.models import Tenant

ADMIN_PORTS = sorted(wording.ADMIN_PORTS)
OPENING = ["added", "modified"]

# The built-in rating: severity for every change, also when a tenant rule leaves it unrated.
DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": "built-in: sgportal's revert role used outside sgportal",
        "match": {"via_spoke_role": True},
        "severity": Severity.SPOKE_ROLE,
    },
    {
        "name": "built-in: admin or database port open to the world",
        "match": {
            "direction": "ingress",
            "world": True,
            "rule_actions": OPENING,
            "ports": [str(p) for p in ADMIN_PORTS],
        },
        "severity": Severity.CRITICAL,
    },
    {
        "name": "built-in: open to the world",
        "match": {"direction": "ingress", "world": True, "rule_actions": OPENING},
        "severity": Severity.HIGH,
    },
    {
        "name": "built-in: opens access",
        "match": {"rule_actions": OPENING},
        "severity": Severity.MEDIUM,
    },
    {"name": "built-in: any other change", "match": {}, "severity": Severity.LOW},
]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What the policy does with one change."""

    name: str
    severity: int
    action: str
    rule_id: int | None = None
    exception_id: int | None = None
    slack_channel: str = ""
    reviewer_group_id: int | None = None
    escalation_group_id: int | None = None
    escalation_channel: str = ""
    deadline_minutes: int | None = None
    default_outcome: str = ""
    notify_limit: int = 10
    notify_window_s: int = 60

    @property
    def label(self) -> str:
        if self.rule_id:
            return f"rule {self.name!r} (#{self.rule_id})"
        if self.exception_id:
            return f"exception #{self.exception_id} ({self.name})"
        return self.name


@dataclass(frozen=True, slots=True)
class ExceptionEntry:
    id: int
    expires_at: dt.datetime
    owner: str


@dataclass
class CompiledPolicy:
    """Everything evaluation needs for one tenant, compiled (no database access)."""

    key: tuple
    emergency: bool
    rules: RuleSet
    exceptions: RuleSet
    defaults: RuleSet
    escalation_channel: str = ""


def rule_outcome(rule: Any) -> Evaluation:
    """The outcome a PolicyRule (or an unsaved rule from a policy file) prescribes."""
    return Evaluation(
        name=rule.name,
        severity=int(rule.severity or 0),
        action=rule.action,
        rule_id=rule.pk,
        slack_channel=rule.slack_channel,
        reviewer_group_id=rule.reviewer_group_id,
        escalation_group_id=rule.escalation_group_id,
        escalation_channel=rule.escalation_channel,
        deadline_minutes=rule.deadline_minutes,
        default_outcome=rule.default_outcome if rule.deadline_minutes else "",
        notify_limit=rule.notify_limit,
        notify_window_s=rule.notify_window_s,
    )


def _defaults(tenant: Tenant) -> RuleSet:
    action = tenant.default_policy or RuleAction.REVIEW
    minutes = tenant.decision_timeout_minutes or None
    return RuleSet.build(
        (
            compile_match(rule["match"]),
            Evaluation(
                name=rule["name"],
                severity=int(rule["severity"]),
                action=action,
                deadline_minutes=minutes,
                default_outcome=DefaultOutcome.ESCALATE if minutes else "",
            ),
        )
        for rule in DEFAULT_RULES
    )


def compile_policy(
    tenant: Tenant,
    rules: list,
    exceptions: list,
    *,
    emergency: bool = False,
    escalation_channel: str = "",
    key: tuple = (),
) -> CompiledPolicy:
    """Compile rules (PolicyRule-like objects, in order) and exceptions; no database."""
    compiled_rules = RuleSet.build(
        (compile_match(rule.match), rule_outcome(rule)) for rule in rules if rule.enabled
    )
    compiled_exceptions = RuleSet.build(
        (
            compile_match(exc.match),
            ExceptionEntry(exc.pk, exc.expires_at, exc.owner_name or "no owner"),
        )
        for exc in exceptions
    )
    return CompiledPolicy(
        key=key,
        emergency=emergency,
        rules=compiled_rules,
        exceptions=compiled_exceptions,
        defaults=_defaults(tenant),
        escalation_channel=escalation_channel,
    )


_cache: dict[int, CompiledPolicy] = {}
_lock = threading.Lock()


def settings_of(tenant: Tenant) -> TenantPolicy:
    """The tenant's policy switches (created on first use)."""
    settings, _ = TenantPolicy.objects.get_or_create(tenant=tenant)
    return settings


def policy_for(tenant: Tenant) -> CompiledPolicy:
    """The tenant's live policy, compiled once per version and process."""
    row = (
        TenantPolicy.objects.filter(tenant_id=tenant.pk)
        .values_list("version", "emergency", "escalation_channel")
        .first()
    ) or (0, False, "")
    key = (row[0], row[1], row[2], tenant.default_policy, tenant.decision_timeout_minutes)
    cached = _cache.get(tenant.pk)
    if cached is not None and cached.key == key:
        return cached
    rules = list(PolicyRule.objects.filter(tenant_id=tenant.pk).order_by("position", "id"))
    exceptions = list(
        PolicyException.objects.filter(tenant_id=tenant.pk, expiry_handled_at__isnull=True)
    )
    compiled = compile_policy(
        tenant, rules, exceptions, emergency=row[1], escalation_channel=row[2], key=key
    )
    with _lock:
        _cache[tenant.pk] = compiled
    return compiled


def invalidate(tenant_id: int) -> None:
    """Tell every process the tenant's compiled policy is stale (bumps the version)."""
    TenantPolicy.objects.get_or_create(tenant_id=tenant_id)
    TenantPolicy.objects.filter(tenant_id=tenant_id).update(version=F("version") + 1)
    _cache.pop(tenant_id, None)


@receiver(post_save, sender=PolicyRule, dispatch_uid="policy.rule_saved")
@receiver(post_delete, sender=PolicyRule, dispatch_uid="policy.rule_deleted")
@receiver(post_save, sender=PolicyException, dispatch_uid="policy.exception_saved")
@receiver(post_delete, sender=PolicyException, dispatch_uid="policy.exception_deleted")
def _on_policy_edit(sender, instance, **kwargs) -> None:
    invalidate(instance.tenant_id)


def facts_of(change: Any) -> Facts:
    """What matching needs of a change (read from the row; no query)."""
    rules = wording.rules_of(change)
    return Facts(
        account=change.aws_account_id or "",
        region=change.region or "",
        vpc=change.vpc_id or "",
        group_id=change.group_id or "",
        group_name=change.group_name or "",
        tags=tags_of(change.raw) if change.event_name == "CreateSecurityGroup" else (),
        event_name=change.event_name or "",
        source=change.source or "",
        actor_arn=change.actor_arn or "",
        actor_type=change.actor_type or "",
        tool=wording.tool_of(change),
        via_spoke_role=bool(change.via_spoke_role),
        perms=tuple(perm_of(rule) for rule in rules),
    )


EMERGENCY = "emergency mode: opens access to the world"


def evaluate(policy: CompiledPolicy, facts: Facts, now: dt.datetime) -> Evaluation:
    """The outcome for one change (pure: ``policy`` and ``facts`` hold everything)."""
    rating = policy.defaults.first(facts)
    if policy.emergency and facts.opens_world:
        return Evaluation(name=EMERGENCY, severity=rating.severity, action=RuleAction.AUTO_REVERT)
    if not facts.via_spoke_role and len(policy.exceptions):
        entry = policy.exceptions.first(facts, lambda e: e.expires_at > now)
        if entry is not None:
            return Evaluation(
                name=f"allowed until {entry.expires_at:%Y-%m-%d %H:%M} UTC, owner {entry.owner}",
                severity=rating.severity,
                action=RuleAction.AUTO_APPROVE,
                exception_id=entry.id,
            )
    outcome = policy.rules.first(facts) or rating
    if not outcome.severity:
        outcome = replace(outcome, severity=rating.severity)
    if facts.via_spoke_role:
        action = outcome.action
        if action in (RuleAction.AUTO_APPROVE, RuleAction.NOTIFY):
            action = RuleAction.REVIEW
        outcome = replace(outcome, severity=int(Severity.SPOKE_ROLE), action=action)
    if outcome.action == RuleAction.REVIEW and not outcome.escalation_channel:
        outcome = replace(outcome, escalation_channel=policy.escalation_channel)
    return outcome
