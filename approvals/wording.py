"""A change in human terms: its rules in words, how severe it is, who made it and how.

Shared by the Slack blocks and the web pages so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from ingestion.models import (
    AUTHORIZE_EVENTS,
    GROUP_EVENTS,
    REVERTIBLE_EVENTS,
    REVOKE_EVENTS,
    ChangeStatus,
    EventName,
    SecurityGroupChange,
)
from ingestion.rules import Rule

WORLD = {"0.0.0.0/0", "::/0"}
# Remote administration and data stores that should never face the internet.
ADMIN_PORTS = {
    22: "SSH",
    23: "Telnet",
    135: "MS RPC",
    139: "NetBIOS",
    445: "SMB",
    1433: "SQL Server",
    1521: "Oracle",
    2049: "NFS",
    2375: "Docker",
    2376: "Docker",
    3306: "MySQL",
    3389: "RDP",
    5432: "PostgreSQL",
    5900: "VNC",
    5985: "WinRM",
    5986: "WinRM",
    6379: "Redis",
    9200: "Elasticsearch",
    11211: "Memcached",
    27017: "MongoDB",
}


@dataclass(frozen=True)
class Severity:
    level: int  # 4 critical .. 1 low
    emoji: str
    label: str


SPOKE_ROLE = Severity(
    5, ":rotating_light:", "made with sgportal's revert role, not by one of its reverts"
)
CRITICAL = Severity(4, ":rotating_light:", "open to the world on an admin port")
HIGH = Severity(3, ":red_circle:", "open to the world")
MEDIUM = Severity(2, ":large_orange_circle:", "opens access")
LOW = Severity(1, ":large_blue_circle:", "security-group change")
SEVERITIES = (SPOKE_ROLE, CRITICAL, HIGH, MEDIUM, LOW)

# The rule inventory lives in remediation, which approvals must not import: remediation
# registers its lookup at start-up. A lookup takes (change, rule id) and gives the rule's
# definition just before the change (direction, protocol, ports, peer, description), or None.
RuleLookup = Callable[[SecurityGroupChange, str], dict | None]
rule_lookups: list[RuleLookup] = []
_RULE_FIELDS = {f.name for f in fields(Rule)}


def register_rule_lookup(lookup: RuleLookup) -> None:
    """Add a source of earlier rule definitions (idempotent)."""
    if lookup not in rule_lookups:
        rule_lookups.append(lookup)


def known_rule(change: SecurityGroupChange, rule: Rule) -> Rule | None:
    """The rule as it was just before the change, from the inventory, when it is known."""
    if not rule.rule_id or change.pk is None:
        return None
    for lookup in rule_lookups:
        definition = lookup(change, rule.rule_id)
        if definition:
            values = {k: v for k, v in definition.items() if k in _RULE_FIELDS}
            return Rule(**{**values, "action": rule.action, "rule_id": rule.rule_id})
    return None


def admin_ports_hit(rule: Rule) -> list[str]:
    """Names of the admin ports the rule opens (all of them for all traffic)."""
    if rule.all_protocols:
        return ["all ports"]
    if rule.name_of_protocol not in {"tcp", "udp"}:
        return []
    if rule.from_port is None or rule.covers_all_ports:
        return ["all ports"]
    low, high = rule.from_port, rule.to_port if rule.to_port is not None else rule.from_port
    return [f"{name} ({port})" for port, name in sorted(ADMIN_PORTS.items()) if low <= port <= high]


def rule_in_words(rule: Rule | dict) -> str:
    """E.g. "added: tcp/22 from 0.0.0.0/0 (office)"."""
    if isinstance(rule, dict):
        rule = Rule.from_json(rule)
    if not rule.protocol and rule.rule_id:  # revoked by id; see change_rules_in_words
        return f"{rule.action}: rule {rule.rule_id} (definition not in the record)"
    return f"{rule.action}: {rule.words()}"


def change_rule_in_words(change: SecurityGroupChange, rule: Rule) -> str:
    """One rule of ``change`` in words, with what the rule inventory knows: the definition
    of a rule revoked by id, and before → after for a modify."""
    if rule.action == "modified":
        before = known_rule(change, rule)
        after = replace(rule, direction=before.direction) if before else rule
        earlier = before.words() if before else "earlier definition unknown"
        return f"modified {rule.rule_id or 'rule'}: {earlier} → {after.words()}"
    if not rule.protocol and rule.rule_id:
        known = known_rule(change, rule)
        if known is None:
            return f"{rule.action}: rule {rule.rule_id} (definition unknown to the inventory)"
        return f"{rule.action}: rule {rule.rule_id}: {known.words()}"
    return rule_in_words(rule)


def rules_in_words(change: SecurityGroupChange, limit: int | None = None) -> list[str]:
    """Every rule of the change in words (see ``change_rule_in_words``)."""
    return [change_rule_in_words(change, rule) for rule in rules_of(change)[:limit]]


def rules_of(change: SecurityGroupChange) -> list[Rule]:
    rules = []
    for data in change.rules or []:
        try:
            rules.append(Rule.from_json(data))
        except TypeError:
            continue
    return rules


def _rated(change: SecurityGroupChange, rule: Rule) -> Rule | None:
    """The rule as it stands after the change, for rating; None when it opens nothing."""
    if rule.action == "removed":
        return None
    if rule.action == "modified":
        before = known_rule(change, rule)
        # The record does not say ingress or egress: unknown counts as ingress (worst case).
        return replace(rule, direction=before.direction if before else "ingress")
    return rule


def severity_of(change: SecurityGroupChange) -> Severity:
    """How bad the change is, rated on what it leaves open (a modify: its new definition)."""
    if getattr(change, "via_spoke_role", False) and change.status != ChangeStatus.OURS:
        return SPOKE_ROLE
    worst = LOW
    for rule in filter(None, (_rated(change, rule) for rule in rules_of(change))):
        world = (rule.cidr_ipv4 in WORLD) or (rule.cidr_ipv6 in WORLD)
        if world and rule.direction == "ingress" and admin_ports_hit(rule):
            return CRITICAL
        level = HIGH if world and rule.direction == "ingress" else MEDIUM
        if level.level > worst.level:
            worst = level
    return worst


def deny_reverts(change: SecurityGroupChange) -> bool:
    """Whether denying the change makes sgportal change the security group."""
    return change.event_name in REVERTIBLE_EVENTS and not change.error_code


def deny_effect(change: SecurityGroupChange) -> str:
    """What denying this change will do, for the confirmation in Slack and on the web."""
    group = change.group_id or "the security group"
    count = len(change.rules or [])
    rules = "rule" if count == 1 else "rules"
    name = change.event_name
    if change.error_code:
        return f"The call failed ({change.error_code}): nothing changed, nothing to revert."
    if name in AUTHORIZE_EVENTS:
        return f"The added {rules} will be removed from {group}."
    if name in REVOKE_EVENTS:
        return f"The removed {rules} will be added back to {group}."
    if name == EventName.MODIFY_RULES:
        return f"The modified {rules} of {group} will be restored to the earlier definition."
    if name in GROUP_EVENTS:
        return (
            f"Nothing will be reverted: sgportal does not undo {name}. "
            "Denying records the decision; change the group by hand if needed."
        )
    return f"Nothing will be reverted: sgportal does not revert {name}."


# AWS services that call EC2 for someone (userIdentity.invokedBy), by their usual name.
AWS_SERVICES = {
    "cloudformation.amazonaws.com": "CloudFormation",
    "eks.amazonaws.com": "Amazon EKS",
    "ecs.amazonaws.com": "Amazon ECS",
    "autoscaling.amazonaws.com": "EC2 Auto Scaling",
    "elasticloadbalancing.amazonaws.com": "Elastic Load Balancing",
    "elasticmapreduce.amazonaws.com": "Amazon EMR",
    "rds.amazonaws.com": "Amazon RDS",
    "lambda.amazonaws.com": "AWS Lambda",
    "ssm.amazonaws.com": "Systems Manager",
    "config.amazonaws.com": "AWS Config",
    "servicecatalog.amazonaws.com": "Service Catalog",
    "securityhub.amazonaws.com": "Security Hub",
}
# User agents of console calls from before sessionCredentialFromConsole existed.
CONSOLE_AGENTS = {"signin.amazonaws.com", "aws internal"}


def tool_of(change: SecurityGroupChange) -> str:
    """The AWS service that called for someone (CloudFormation…), else console, CLI,
    Terraform, an SDK, or the raw user agent."""
    invoked_by = (getattr(change, "invoked_by", "") or "").lower()
    if invoked_by and invoked_by != "signin.amazonaws.com":  # signin: the console itself
        return AWS_SERVICES.get(invoked_by) or f"AWS service {invoked_by}"
    agent = (change.user_agent or "").lower()
    if change.via_console or invoked_by or agent in CONSOLE_AGENTS or "console" in agent:
        return "AWS console"
    for needle, label in (
        ("terraform", "Terraform"),
        ("cloudformation", "CloudFormation"),
        ("aws-cli", "AWS CLI"),
        ("aws-cdk", "AWS CDK"),
        ("pulumi", "Pulumi"),
        ("boto3", "SDK (boto3)"),
        ("aws-sdk-go", "SDK (Go)"),
        ("aws-sdk-java", "SDK (Java)"),
        ("aws-sdk-js", "SDK (JavaScript)"),
    ):
        if needle in agent:
            return label
    return change.user_agent[:80] if change.user_agent else "unknown tool"


def account_of(change: SecurityGroupChange) -> str:
    account_id = change.aws_account_id or (change.account.account_id if change.account else "")
    if change.account_id and change.account:
        return f"{change.account.name} ({account_id})"
    return account_id or "unknown account"


def group_of(change: SecurityGroupChange) -> str:
    parts = [change.group_id or "unknown group"]
    if change.group_name:
        parts.append(f"“{change.group_name}”")
    if change.vpc_id:
        parts.append(f"in {change.vpc_id}")
    return " ".join(parts)
