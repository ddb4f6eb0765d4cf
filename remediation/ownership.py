"""Which spoke-role calls are sgportal's own reverts.

The parser flags every call made with a tenant's spoke role and, when the session is named
like one of ours (``sgportal-change-<id>`` / ``sgportal-undo-<id>``), hands the store a claim.
A claim is ours only when a revert attempt sgportal made for that change, in the same
tenant, account, region and group, sent that SourceIdentity and planned that call on those
rules. Anything else made with the spoke role stays to be reviewed, at the highest severity
(``approvals.wording.severity_of``). Registered with ``ingestion.store`` at start-up.
"""

from __future__ import annotations

from ingestion import rules
from remediation.models import RevertAttempt


def own_calls(tenant_id: int, claims: list[dict]) -> list[bool]:
    """One answer per claim (see ``ingestion.store._claim``): does an attempt account for it?"""
    change_ids = {claim["change_id"] for claim in claims}
    attempts: dict[int, list[RevertAttempt]] = {}
    for attempt in RevertAttempt.objects.filter(
        change_id__in=change_ids, change__tenant_id=tenant_id
    ).select_related("change__account"):
        attempts.setdefault(attempt.change_id, []).append(attempt)
    return [
        any(matches(attempt, claim) for attempt in attempts.get(claim["change_id"], []))
        for claim in claims
    ]


def _planned(plan: dict) -> tuple[set[str], set[tuple]]:
    """Rule ids and rule definitions (match keys) a plan acts on."""
    ids: set[str] = set()
    keys: set[tuple] = set()
    for item in plan.get("expect", []):
        if item.get("rule_id"):
            ids.add(item["rule_id"])
        if rules.is_complete(item.get("definition") or {}):
            keys.add(rules.match_key(item["definition"]))
    for call in plan.get("calls", []):
        ids.update(call.get("params", {}).get("SecurityGroupRuleIds", []))
        for entry in call.get("params", {}).get("SecurityGroupRules", []):
            ids.add(entry.get("SecurityGroupRuleId"))
    return ids, keys


def matches(attempt: RevertAttempt, claim: dict) -> bool:
    """Whether the call described by ``claim`` is one ``attempt`` made."""
    change, plan = attempt.change, attempt.plan or {}
    if attempt.kind != claim.get("kind") or not plan.get("revertible"):
        return False
    if not attempt.source_identity or attempt.source_identity != claim.get("source_identity"):
        return False
    account = change.account.account_id if change.account else change.aws_account_id
    if (claim.get("aws_account_id"), claim.get("region")) != (account, change.region):
        return False
    if claim.get("group_id") != plan.get("group_id"):
        return False
    if claim.get("event_name") not in {call["operation"] for call in plan.get("calls", [])}:
        return False
    ids, keys = _planned(plan)
    claimed = claim.get("rules") or []
    for rule in claimed:
        if rule.get("rule_id") in ids:
            continue
        definition = rules.definition_of(rule)
        known = definition["direction"] and rules.is_complete(definition)
        if not (known and rules.match_key(definition) in keys):
            return False
    return bool(claimed)
