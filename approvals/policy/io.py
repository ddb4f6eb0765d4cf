"""Policy as code: export a tenant's rules as JSON, import them (validated first, audited
as a diff, all or nothing) and simulate a policy over stored changes."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.utils import timezone

from approvals.policy.engine import compile_policy, evaluate, facts_of, policy_for
from approvals.policy.matcher import MatchError, compile_match
from approvals.policy.models import (
    DefaultOutcome,
    PolicyException,
    PolicyRule,
    ReviewerGroup,
    RuleAction,
    Severity,
    TenantPolicy,
)
from ingestion.models import SecurityGroupChange
from sgportal.audit import record_audit
from sgportal.models import AuditAction, Tenant

FORMAT = 1
RULE_FIELDS = {
    "name": str,
    "position": int,
    "enabled": bool,
    "match": dict,
    "severity": int,
    "action": str,
    "slack_channel": str,
    "reviewer_group": (str, type(None)),
    "deadline_minutes": (int, type(None)),
    "default_outcome": str,
    "escalation_channel": str,
    "escalation_group": (str, type(None)),
    "notify_limit": int,
    "notify_window_s": int,
}
DEFAULTS = {
    "position": None,
    "enabled": True,
    "match": {},
    "severity": 0,
    "action": RuleAction.REVIEW,
    "slack_channel": "",
    "reviewer_group": None,
    "deadline_minutes": None,
    "default_outcome": DefaultOutcome.ESCALATE,
    "escalation_channel": "",
    "escalation_group": None,
    "notify_limit": 10,
    "notify_window_s": 60,
}


class PolicyFileError(ValueError):
    """A policy file that cannot be imported; ``errors`` name the rule and field."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


def rule_to_json(rule: PolicyRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "position": rule.position,
        "enabled": rule.enabled,
        "match": rule.match,
        "severity": rule.severity,
        "action": rule.action,
        "slack_channel": rule.slack_channel,
        "reviewer_group": rule.reviewer_group.name if rule.reviewer_group_id else None,
        "deadline_minutes": rule.deadline_minutes,
        "default_outcome": rule.default_outcome,
        "escalation_channel": rule.escalation_channel,
        "escalation_group": rule.escalation_group.name if rule.escalation_group_id else None,
        "notify_limit": rule.notify_limit,
        "notify_window_s": rule.notify_window_s,
    }


def export_policy(tenant: Tenant) -> dict[str, Any]:
    settings = TenantPolicy.objects.filter(tenant=tenant).first()
    rules = PolicyRule.objects.filter(tenant=tenant).select_related(
        "reviewer_group", "escalation_group"
    )
    return {
        "format": FORMAT,
        "tenant": tenant.slug,
        "escalation_channel": settings.escalation_channel if settings else "",
        "rules": [rule_to_json(rule) for rule in rules.order_by("position", "id")],
    }


def validate(tenant: Tenant, data: Any) -> tuple[list[dict], str]:
    """The file's rules, complete and checked, and its escalation channel; raises
    PolicyFileError listing every problem as 'rule N "name": field: what'."""
    errors: list[str] = []
    if not isinstance(data, dict):
        raise PolicyFileError(["file: must be a JSON object with a 'rules' list"])
    if data.get("format", FORMAT) != FORMAT:
        errors.append(f"format: {data.get('format')!r} is not supported (expected {FORMAT})")
    unknown = set(data) - {"format", "tenant", "escalation_channel", "rules"}
    if unknown:
        errors.append(f"file: unknown key {sorted(unknown)[0]!r}")
    channel = data.get("escalation_channel", "")
    if not isinstance(channel, str):
        errors.append("escalation_channel: must be a string")
    rules = data.get("rules")
    if not isinstance(rules, list):
        raise PolicyFileError([*errors, "rules: must be a list"])
    groups = dict(ReviewerGroup.objects.filter(tenant=tenant).values_list("name", "pk"))
    seen: set[str] = set()
    clean: list[dict] = []
    for number, raw in enumerate(rules, start=1):
        where = f"rule {number}"
        if not isinstance(raw, dict):
            errors.append(f"{where}: must be an object")
            continue
        name = raw.get("name")
        if isinstance(name, str) and name:
            where = f'rule {number} "{name}"'
        rule = {**DEFAULTS, **raw}
        for field in sorted(set(raw) - set(RULE_FIELDS)):
            errors.append(f"{where}: {field}: unknown field")
        for field, kind in RULE_FIELDS.items():
            value = rule[field]
            if field == "position" and value is None:
                continue
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                errors.append(f"{where}: {field}: wrong type ({type(value).__name__})")
        if not (isinstance(name, str) and name.strip()) or len(str(name)) > 100:
            errors.append(f"{where}: name: required, at most 100 characters")
        elif name in seen:
            errors.append(f"{where}: name: used by an earlier rule")
        seen.add(str(name))
        if rule["action"] not in RuleAction.values:
            errors.append(f"{where}: action: one of {', '.join(RuleAction.values)}")
        if rule["default_outcome"] not in DefaultOutcome.values:
            errors.append(f"{where}: default_outcome: one of {', '.join(DefaultOutcome.values)}")
        if isinstance(rule["severity"], int) and rule["severity"] not in Severity.values:
            errors.append(f"{where}: severity: 0 (unrated) to 5")
        for field in ("deadline_minutes", "notify_limit", "notify_window_s", "position"):
            if isinstance(rule[field], int) and rule[field] < 0:
                errors.append(f"{where}: {field}: must not be negative")
        for field in ("reviewer_group", "escalation_group"):
            if isinstance(rule[field], str) and rule[field] not in groups:
                errors.append(f"{where}: {field}: no reviewer group {rule[field]!r} in this tenant")
        try:
            compile_match(rule["match"])
        except MatchError as exc:
            errors.append(f"{where}: {exc}")
        if rule["position"] is None:
            rule["position"] = number * 10
        clean.append(rule)
    if errors:
        raise PolicyFileError(errors)
    for rule in clean:
        rule["reviewer_group_id"] = groups.get(rule.pop("reviewer_group"))
        rule["escalation_group_id"] = groups.get(rule.pop("escalation_group"))
    return clean, channel


def _comparable(rule: dict) -> dict:
    return {k: v for k, v in rule.items() if k != "name"}


def diff(before: list[dict], after: list[dict]) -> dict[str, Any]:
    old = {r["name"]: r for r in before}
    new = {r["name"]: r for r in after}
    changed = {}
    for name in sorted(set(old) & set(new)):
        fields = {
            k: [old[name].get(k), new[name].get(k)]
            for k in sorted(set(old[name]) | set(new[name]))
            if old[name].get(k) != new[name].get(k)
        }
        if fields:
            changed[name] = fields
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": changed,
    }


def import_policy(
    tenant: Tenant, data: Any, *, actor: Any, dry_run: bool = False, via: str = "cli"
) -> dict[str, Any]:
    """Replace the tenant's rules with the file's (all or nothing); the diff."""
    rules, channel = validate(tenant, data)
    before = export_policy(tenant)["rules"]
    group_names = {pk: name for name, pk in _groups(tenant).items()}
    after = [
        {
            **{k: v for k, v in r.items() if not k.endswith("_group_id")},
            "reviewer_group": group_names.get(r["reviewer_group_id"]),
            "escalation_group": group_names.get(r["escalation_group_id"]),
        }
        for r in sorted(rules, key=lambda r: r["position"])
    ]
    changes = diff(before, after)
    old = TenantPolicy.objects.filter(tenant=tenant).first()
    old_channel = old.escalation_channel if old else ""
    if dry_run:
        return changes
    with transaction.atomic():
        PolicyRule.objects.filter(tenant=tenant).delete()
        PolicyRule.objects.bulk_create(PolicyRule(tenant=tenant, **rule) for rule in rules)
        settings, _ = TenantPolicy.objects.get_or_create(tenant=tenant)
        settings.escalation_channel = channel
        settings.save(update_fields=["escalation_channel"])
        record_audit(
            tenant,
            AuditAction.UPDATE,
            actor=actor,
            via=via,
            object_type="approvals.PolicyRule",
            object_repr=f"policy import ({len(rules)} rules)",
            before={"rules": before, "escalation_channel": old_channel},
            after={"rules": after, "escalation_channel": channel, "diff": changes},
        )
        from approvals.policy.engine import invalidate

        invalidate(tenant.pk)  # bulk_create sends no post_save
    return changes


def _groups(tenant: Tenant) -> dict[str, int]:
    return dict(ReviewerGroup.objects.filter(tenant=tenant).values_list("name", "pk"))


@dataclass
class Simulation:
    rows: list[tuple[int, str, str, int]]  # change id, action, rule, severity
    by_action: Counter
    by_rule: Counter


def simulate(
    tenant: Tenant, *, days: int = 7, data: Any = None, now: dt.datetime | None = None
) -> Simulation:
    """What the policy (the tenant's live one, or the file's) does to the stored changes of
    the last ``days`` days, evaluated as if they arrived now. Writes nothing."""
    now = now or timezone.now()
    if data is None:
        policy = policy_for(tenant)
    else:
        rules, channel = validate(tenant, data)
        objects = [SimpleNamespace(pk=None, **rule) for rule in rules]
        settings = TenantPolicy.objects.filter(tenant=tenant).first()
        exceptions = PolicyException.objects.filter(tenant=tenant, expiry_handled_at__isnull=True)
        policy = compile_policy(
            tenant,
            objects,
            list(exceptions),
            emergency=bool(settings and settings.emergency),
            escalation_channel=channel,
        )
    since = now - dt.timedelta(days=days)
    changes = (
        SecurityGroupChange.objects.for_tenant(tenant)
        .filter(ingested_at__gte=since)
        .exclude(status__in=["informational", "ours", "unparseable"])
        .order_by("pk")
    )
    rows = []
    for change in changes.iterator(chunk_size=500):
        outcome = evaluate(policy, facts_of(change), now)
        rows.append((change.pk, outcome.action, outcome.name, outcome.severity))
    return Simulation(
        rows=rows,
        by_action=Counter(r[1] for r in rows),
        by_rule=Counter(r[2] for r in rows),
    )


def load_file(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise PolicyFileError([f"file: not JSON ({exc})"]) from None


@dataclass
class RulePreview:
    """A rule's effect before it is saved: the live policy and the policy with the rule (as
    edited) both replayed by ``simulate`` over the same stored changes."""

    days: int
    live: Simulation
    edited: Simulation
    # change id -> (live action, live rule, edited action, edited rule), where they differ
    differences: dict[int, tuple[str, str, str, str]]
    matched: int  # changes the edited rule itself decides

    @property
    def action_rows(self) -> list[tuple[str, int, int]]:
        """(action, changes under the live policy, changes with the rule), every action."""
        live, edited = self.live.by_action, self.edited.by_action
        return [(a, live.get(a, 0), edited.get(a, 0)) for a in sorted(set(live) | set(edited))]

    @property
    def first_differences(self) -> list[tuple[int, str, str, str, str]]:
        """The first 50 changes decided differently: (change id, live action, live rule,
        edited action, edited rule)."""
        return [(pk, *self.differences[pk]) for pk in sorted(self.differences)[:50]]


def policy_with_rule(rule: PolicyRule) -> dict[str, Any]:
    """The tenant's policy file with ``rule`` (unsaved edits included) in place of its stored
    version, or added when it is new."""
    data = export_policy(rule.tenant)
    others = PolicyRule.objects.filter(tenant_id=rule.tenant_id).select_related(
        "reviewer_group", "escalation_group"
    )
    if rule.pk is not None:
        others = others.exclude(pk=rule.pk)
    # The live order is (position, id); a new rule gets the highest id.
    ordered = [(other.position, other.pk, rule_to_json(other)) for other in others]
    ordered.append((rule.position, rule.pk or float("inf"), rule_to_json(rule)))
    data["rules"] = [entry for _, _, entry in sorted(ordered, key=lambda t: t[:2])]
    return data


def preview_rule(rule: PolicyRule, *, days: int = 7, now: dt.datetime | None = None) -> RulePreview:
    """What the tenant's policy would have decided over the last ``days`` days with ``rule``
    as edited, next to what the live policy decides (``simulate`` twice). Writes nothing;
    raises PolicyFileError when the edited policy would not import."""
    now = now or timezone.now()
    live = simulate(rule.tenant, days=days, now=now)
    edited = simulate(rule.tenant, days=days, data=policy_with_rule(rule), now=now)
    before = {row[0]: row for row in live.rows}
    differences = {}
    for change_id, action, name, _severity in edited.rows:
        old = before.get(change_id)
        if old is not None and (old[1], old[2]) != (action, name):
            differences[change_id] = (old[1], old[2], action, name)
    return RulePreview(
        days=days,
        live=live,
        edited=edited,
        differences=differences,
        matched=edited.by_rule.get(rule.name, 0),
    )
