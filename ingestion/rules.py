"""The normalized shape of one security-group rule as the parser emits it.

A change stores a list of these (as JSON) in ``SecurityGroupChange.rules``; approvals
renders them and remediation plans reverts from them. One rule = one (permission x source),
the same granularity as EC2's SecurityGroupRule.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

Action = Literal["added", "removed", "modified"]
Direction = Literal["ingress", "egress"]


@dataclass(frozen=True)
class Rule:
    action: Action
    direction: Direction
    protocol: str  # "-1" (all), "tcp", "udp", "icmp", "icmpv6", or an IP protocol number as text
    from_port: int | None = None  # None when the protocol has no ports (-1) or it is unknown
    to_port: int | None = None
    cidr_ipv4: str | None = None
    cidr_ipv6: str | None = None
    prefix_list_id: str | None = None
    referenced_group_id: str | None = None
    referenced_account_id: str | None = None  # owner of the referenced group, when given
    description: str | None = None
    rule_id: str | None = None  # SecurityGroupRuleId (sgr-...), when known
    extra: dict = field(default_factory=dict)  # anything else worth keeping (e.g. modify tag)

    def to_json(self) -> dict:
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_json(cls, data: dict) -> Rule:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def source(self) -> str:
        """The peer in words: a CIDR, a prefix list or a group (with its account)."""
        if self.cidr_ipv4:
            return self.cidr_ipv4
        if self.cidr_ipv6:
            return self.cidr_ipv6
        if self.prefix_list_id:
            return self.prefix_list_id
        if self.referenced_group_id:
            owner = f" in {self.referenced_account_id}" if self.referenced_account_id else ""
            return f"{self.referenced_group_id}{owner}"
        return "?"


_FIELD_NAMES = tuple(f.name for f in fields(Rule))
