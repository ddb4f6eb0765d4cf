"""Revert plans: which EC2 calls undo a change, and what the group must look like after.

A plan is JSON (stored on the RevertAttempt and shown in admin)::

    {"revertible": true, "reason": "", "group_id": "sg-…",
     "calls": [{"operation": "RevokeSecurityGroupIngress",
                "method": "revoke_security_group_ingress",
                "params": {"GroupId": "sg-…", "SecurityGroupRuleIds": ["sgr-…"]},
                "summary": "revoke ingress tcp/22 from 0.0.0.0/0 (sgr-…)"}],
     "expect": [{"state": "absent", "rule_id": "sgr-…", "definition": {…}}]}

``expect`` is what a describe after acting must show: ``absent`` (by rule id, or by
definition when the record carried no id), ``present`` (a rule with that definition), or
``matches`` (the rule id holds exactly that definition). Before acting, ``resolve_rule_ids``
turns an ``absent`` by definition into the rule id the group then holds (or ``gone_before``
when it holds none), so retries and redeliveries act only on the rules first planned.
One call per rule, so a rule already gone never makes EC2 reject its siblings.
"""

from __future__ import annotations

from collections.abc import Callable

from ingestion import rules
from ingestion.models import AUTHORIZE_EVENTS, REVOKE_EVENTS, EventName, SecurityGroupChange
from ingestion.rules import Rule

AUTHORIZE = AUTHORIZE_EVENTS
REVOKE = REVOKE_EVENTS
MODIFY = EventName.MODIFY_RULES
NOT_REVERTIBLE = {
    EventName.CREATE_GROUP: (
        "CreateSecurityGroup is not reverted: deleting a group can break the instances and "
        "rules that already use it. Delete it by hand if it must go."
    ),
    EventName.DELETE_GROUP: (
        "DeleteSecurityGroup cannot be reverted: a deleted group cannot be restored with the "
        "same id. Recreate it by hand if needed."
    ),
}
NO_PRIOR_STATE = "no prior state known"

PriorLookup = Callable[[str], dict | None]


def _method(operation: str) -> str:
    out = []
    for ch in operation:
        if ch.isupper() and out:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def call(operation: str, params: dict, summary: str) -> dict:
    return {
        "operation": operation,
        "method": _method(operation),
        "params": params,
        "summary": summary,
    }


def not_revertible(reason: str, group_id: str = "") -> dict:
    return {"revertible": False, "reason": reason, "group_id": group_id, "calls": [], "expect": []}


def _plan(group_id: str, calls: list[dict], expect: list[dict]) -> dict:
    if not calls:
        return not_revertible("the change carries no rules to revert", group_id)
    return {
        "revertible": True,
        "reason": "",
        "group_id": group_id,
        "calls": calls,
        "expect": expect,
    }


def _words(definition: dict) -> str:
    """A definition in the portal's words, naming its direction (plans list both)."""
    return Rule.from_definition(definition).words(explicit_direction=True)


def _revoke(group_id: str, direction: str, definition: dict, rule_id: str | None) -> dict:
    operation = f"RevokeSecurityGroup{direction.capitalize()}"
    text = _words(definition) if rules.is_complete(definition) else direction
    if rule_id:
        params = {"GroupId": group_id, "SecurityGroupRuleIds": [rule_id]}
        return call(operation, params, f"revoke {text} ({rule_id})")
    permission = Rule.from_definition(definition).ip_permission()
    params = {"GroupId": group_id, "IpPermissions": [permission]}
    return call(operation, params, f"revoke {text} (by permission)")


def _authorize(group_id: str, definition: dict) -> dict:
    operation = f"AuthorizeSecurityGroup{definition['direction'].capitalize()}"
    permission = Rule.from_definition(definition).ip_permission()
    params = {"GroupId": group_id, "IpPermissions": [permission]}
    return call(operation, params, f"authorize {_words(definition)}")


def _modify(group_id: str, rule_id: str, definition: dict) -> dict:
    request = Rule.from_definition(definition).rule_request()
    params = {
        "GroupId": group_id,
        "SecurityGroupRules": [{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": request}],
    }
    return call(MODIFY, params, f"restore {rule_id} to {_words(definition)}")


def plan_revert(change: SecurityGroupChange, prior: PriorLookup) -> dict:
    """The plan that undoes ``change``; ``prior(rule_id)`` gives a rule's earlier definition."""
    name, group_id = change.event_name, change.group_id
    if name in NOT_REVERTIBLE:
        return not_revertible(NOT_REVERTIBLE[name], group_id)
    if change.error_code:
        return not_revertible(f"the call failed ({change.error_code}); nothing changed", group_id)
    if not group_id:
        return not_revertible("the record names no security group")
    calls: list[dict] = []
    expect: list[dict] = []

    if name in AUTHORIZE:
        for rule in change.rules:
            if rule.get("action") != "added":
                continue
            definition = rules.definition_of({**rule, "direction": AUTHORIZE[name]})
            rule_id = rule.get("rule_id")
            if not rule_id and not rules.is_complete(definition):
                return not_revertible("a rule carries neither an id nor a definition", group_id)
            calls.append(_revoke(group_id, AUTHORIZE[name], definition, rule_id))
            expect.append({"state": "absent", "rule_id": rule_id, "definition": definition})
        return _plan(group_id, calls, expect)

    if name in REVOKE:
        for rule in change.rules:
            if rule.get("action") != "removed":
                continue
            definition = rules.definition_of({**rule, "direction": REVOKE[name]})
            if not rules.is_complete(definition):
                known = prior(rule["rule_id"]) if rule.get("rule_id") else None
                if known is None:
                    missing = rule.get("rule_id") or "a rule without an id"
                    return not_revertible(f"{NO_PRIOR_STATE} for {missing}", group_id)
                definition = known
            calls.append(_authorize(group_id, definition))
            expect.append({"state": "present", "rule_id": None, "definition": definition})
        return _plan(group_id, calls, expect)

    if name == MODIFY:
        for rule in change.rules:
            rule_id = rule.get("rule_id")
            if rule.get("action") != "modified" or not rule_id:
                continue
            known = prior(rule_id)
            if known is None:
                return not_revertible(f"{NO_PRIOR_STATE} for {rule_id}", group_id)
            calls.append(_modify(group_id, rule_id, known))
            expect.append({"state": "matches", "rule_id": rule_id, "definition": known})
        return _plan(group_id, calls, expect)

    return not_revertible(f"{name} is not a security-group change sgportal can revert", group_id)


def resolve_rule_ids(plan: dict, snapshot: list[dict]) -> dict:
    """The plan with every revoke by permission turned into a revoke of the rule id the
    snapshot (the group before acting) holds for that definition.

    Done once, with the first snapshot, and stored: a redelivered task then acts only on
    the rules this attempt planned, never on an identical rule someone added since (it has
    a new id). A rule the snapshot does not hold was already gone: no call, and it is
    recorded as ``gone_before`` (nothing to confirm, nothing to undo).
    """
    if not plan.get("revertible") or len(plan["calls"]) != len(plan["expect"]):
        return plan
    ids = {rules.match_key(item["definition"]): item["rule_id"] for item in snapshot or []}
    calls: list[dict] = []
    expect: list[dict] = []
    for planned, item in zip(plan["calls"], plan["expect"], strict=True):
        if item["state"] != "absent" or item.get("rule_id"):
            calls.append(planned)
            expect.append(item)
            continue
        definition = item["definition"]
        rule_id = ids.get(rules.match_key(definition))
        if rule_id is None:
            expect.append({**item, "state": "gone_before"})
            continue
        calls.append(_revoke(plan["group_id"], definition["direction"], definition, rule_id))
        expect.append({**item, "rule_id": rule_id})
    return {**plan, "calls": calls, "expect": expect}


def _by_id(snapshot: list[dict]) -> dict[str, dict]:
    return {item["rule_id"]: item["definition"] for item in snapshot or []}


def plan_undo(revert_plan: dict, before: list[dict], after: list[dict]) -> dict:
    """Re-apply what a finished revert undid, from its own before/after snapshots."""
    group_id = revert_plan.get("group_id", "")
    before_ids, after_ids = _by_id(before), _by_id(after)
    calls: list[dict] = []
    expect: list[dict] = []
    for item in revert_plan.get("expect", []):
        state, rule_id, definition = item["state"], item.get("rule_id"), item["definition"]
        if state == "absent":
            if rule_id:
                revoked = [before_ids[rule_id]] if rule_id in before_ids else []
            else:
                key = rules.match_key(definition)
                revoked = [d for d in before_ids.values() if rules.match_key(d) == key][:1]
            for original in revoked:
                calls.append(_authorize(group_id, original))
                expect.append({"state": "present", "rule_id": None, "definition": original})
        elif state == "present":
            key = rules.match_key(definition)
            for new_id, current in after_ids.items():
                if new_id not in before_ids and rules.match_key(current) == key:
                    calls.append(_revoke(group_id, current["direction"], current, new_id))
                    expect.append({"state": "absent", "rule_id": new_id, "definition": current})
        elif (
            state == "matches"
            and rule_id in before_ids
            and not rules.same_definition(before_ids[rule_id], definition)
        ):
            calls.append(_modify(group_id, rule_id, before_ids[rule_id]))
            expect.append(
                {"state": "matches", "rule_id": rule_id, "definition": before_ids[rule_id]}
            )
    if not calls:
        return not_revertible("nothing this revert changed is left to undo", group_id)
    return _plan(group_id, calls, expect)


def check(expect: list[dict], snapshot: list[dict]) -> list[str]:
    """What the snapshot contradicts in ``expect`` (empty when the plan took effect)."""
    by_id = _by_id(snapshot)
    keys = {rules.match_key(d) for d in by_id.values()}
    problems = []
    for item in expect:
        state, rule_id, definition = item["state"], item.get("rule_id"), item["definition"]
        text = _words(definition) if rules.is_complete(definition) else rule_id
        if state == "absent" and rule_id and rule_id in by_id:
            problems.append(f"{rule_id} ({text}) is still present")
        elif state == "absent" and not rule_id and rules.match_key(definition) in keys:
            problems.append(f"{text} is still present")
        elif state == "present" and rules.match_key(definition) not in keys:
            problems.append(f"{text} is not present")
        elif state == "matches" and not (
            rule_id in by_id and rules.same_definition(by_id[rule_id], definition)
        ):
            problems.append(f"{rule_id} does not hold {text}")
    return problems
