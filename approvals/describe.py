"""A change in human terms: its rules in words, how severe it is, who made it and how.

Shared by the Slack blocks and the web pages so both say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingestion.models import SecurityGroupChange
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
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
PORTED = {"tcp", "udp"}


@dataclass(frozen=True)
class Severity:
    level: int  # 4 critical .. 1 low
    emoji: str
    label: str


CRITICAL = Severity(4, ":rotating_light:", "open to the world on an admin port")
HIGH = Severity(3, ":red_circle:", "open to the world")
MEDIUM = Severity(2, ":large_orange_circle:", "opens access")
LOW = Severity(1, ":large_blue_circle:", "security-group change")


def _protocol(rule: Rule) -> str:
    proto = str(rule.protocol).lower()
    return PROTOCOL_NAMES.get(proto, proto)


def _all_protocols(rule: Rule) -> bool:
    return str(rule.protocol) in {"-1", "all"}


def _covers_all_ports(rule: Rule) -> bool:
    return rule.from_port in (None, -1, 0) and rule.to_port in (None, -1, 65535)


def ports_of(rule: Rule) -> str:
    if rule.from_port is None or _covers_all_ports(rule):
        return "all ports"
    if rule.from_port == rule.to_port or rule.to_port is None:
        return str(rule.from_port)
    return f"{rule.from_port}-{rule.to_port}"


def admin_ports_hit(rule: Rule) -> list[str]:
    """Names of the admin ports the rule opens (all of them for all traffic)."""
    if _all_protocols(rule):
        return ["all ports"]
    if _protocol(rule) not in PORTED:
        return []
    if rule.from_port is None or _covers_all_ports(rule):
        return ["all ports"]
    low, high = rule.from_port, rule.to_port if rule.to_port is not None else rule.from_port
    return [f"{name} ({port})" for port, name in sorted(ADMIN_PORTS.items()) if low <= port <= high]


def what_of(rule: Rule) -> str:
    """The traffic part: "tcp/22", "all traffic", "icmp", "icmp type 8", "protocol 47"."""
    if _all_protocols(rule):
        return "all traffic"
    proto = _protocol(rule)
    if proto in PORTED:
        return f"{proto}/{ports_of(rule)}"
    if proto in {"icmp", "icmpv6"}:
        if rule.from_port in (None, -1):
            return proto
        code = "" if rule.to_port in (None, -1) else f" code {rule.to_port}"
        return f"{proto} type {rule.from_port}{code}"
    return f"protocol {proto}"


def peer_of(rule: Rule) -> str:
    if rule.prefix_list_id:
        return f"prefix list {rule.prefix_list_id}"
    return rule.source


def rule_in_words(rule: Rule | dict) -> str:
    """E.g. "added: tcp/22 from 0.0.0.0/0 (office)"."""
    if isinstance(rule, dict):
        rule = Rule.from_json(rule)
    direction = "from" if rule.direction == "ingress" else "to"
    text = f"{what_of(rule)} {direction} {peer_of(rule)}"
    if rule.direction == "egress":
        text = f"outbound {text}"
    if rule.description:
        text += f" ({rule.description})"
    return f"{rule.action}: {text}"


def rules_of(change: SecurityGroupChange) -> list[Rule]:
    rules = []
    for data in change.rules or []:
        try:
            rules.append(Rule.from_json(data))
        except TypeError:
            continue
    return rules


def severity_of(change: SecurityGroupChange) -> Severity:
    worst = LOW
    for rule in rules_of(change):
        if rule.action == "removed":
            continue
        world = (rule.cidr_ipv4 in WORLD) or (rule.cidr_ipv6 in WORLD)
        if world and rule.direction == "ingress" and admin_ports_hit(rule):
            return CRITICAL
        level = HIGH if world and rule.direction == "ingress" else MEDIUM
        if level.level > worst.level:
            worst = level
    return worst


def tool_of(change: SecurityGroupChange) -> str:
    """Console, CLI, Terraform, CloudFormation, an SDK, or the raw user agent."""
    agent = (change.user_agent or "").lower()
    if change.via_console or "console" in agent or agent == "aws internal":
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
