"""The one shape of a security-group rule: ``Rule``, its identity, its words and its EC2 forms.

A change stores a list of rules (as JSON) in ``SecurityGroupChange.rules``; approvals
words them and rates them, remediation plans reverts from them. One rule = one
(permission x peer), the same granularity as EC2's SecurityGroupRule.

A *definition* is a rule's JSON without its action, id and extras (``DEFINITION_KEYS``,
cleaned by ``definition_of``): what the rule inventory, snapshots and revert plans store
and compare. ``Rule.from_describe`` reads a DescribeSecurityGroupRules item;
``Rule.ip_permission`` and ``Rule.rule_request`` write the shapes EC2 calls take.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

Action = Literal["added", "removed", "modified"]
Direction = Literal["ingress", "egress"]

# IP protocol numbers EC2 reports by name; "all" is how some records say -1.
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
# Protocols whose from/to fields mean something (ports, or ICMP type and code).
PORTED_PROTOCOLS = {"tcp", "udp", "icmp", "icmpv6"}

DEFINITION_KEYS = (
    "direction",
    "protocol",
    "from_port",
    "to_port",
    "cidr_ipv4",
    "cidr_ipv6",
    "prefix_list_id",
    "referenced_group_id",
    "referenced_account_id",
    "description",
)
SOURCE_KEYS = ("cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_group_id")


def normalize_protocol(value: Any) -> str:
    """EC2's protocol as we store it: a name for tcp/udp/icmp/icmpv6, "-1" for all."""
    text = str(value if value is not None else "").strip().lower()
    return PROTOCOL_NAMES.get(text, text)


@dataclass(frozen=True)
class Rule:
    """One security-group rule as a change, a describe or the inventory states it."""

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

    # --- JSON ---------------------------------------------------------------------------
    def to_json(self) -> dict:
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_json(cls, data: dict) -> Rule:
        return cls(**{k: v for k, v in data.items() if k in _FIELD_SET})

    @classmethod
    def from_definition(cls, definition: dict, action: Action = "added") -> Rule:
        """A rule from a definition dict (or any rule JSON), cleaned."""
        return cls(action=action, **definition_of(definition))

    @classmethod
    def from_describe(cls, item: dict, action: Action = "added") -> Rule:
        """A rule from one DescribeSecurityGroupRules ``SecurityGroupRules`` item."""
        ref = item.get("ReferencedGroupInfo") or {}
        return cls.from_definition(
            {
                "direction": "egress" if item.get("IsEgress") else "ingress",
                "protocol": item.get("IpProtocol"),
                "from_port": item.get("FromPort"),
                "to_port": item.get("ToPort"),
                "cidr_ipv4": item.get("CidrIpv4"),
                "cidr_ipv6": item.get("CidrIpv6"),
                "prefix_list_id": item.get("PrefixListId"),
                "referenced_group_id": ref.get("GroupId"),
                "referenced_account_id": ref.get("UserId"),
                "description": item.get("Description"),
            },
            action,
        )

    def definition(self) -> dict:
        """The rule's definition dict (see the module docstring)."""
        return definition_of(self)

    # --- identity -----------------------------------------------------------------------
    def traffic_key(self) -> tuple:
        """What the rule lets through (not its direction, id or description)."""
        return traffic_key(self)

    def match_key(self) -> tuple:
        """What makes two rules the same rule to EC2: direction and traffic."""
        return match_key(self)

    @property
    def is_complete(self) -> bool:
        """Whether the rule says what it allows (a protocol and one peer)."""
        return is_complete(self)

    # --- EC2 shapes ---------------------------------------------------------------------
    def ip_permission(self, *, with_description: bool = True) -> dict:
        """One ``IpPermissions`` entry for authorize/revoke calls."""
        d = self.definition()
        perm: dict[str, Any] = {"IpProtocol": d["protocol"]}
        if d["protocol"] != "-1":
            if d["from_port"] is not None:
                perm["FromPort"] = d["from_port"]
            if d["to_port"] is not None:
                perm["ToPort"] = d["to_port"]
        desc = {"Description": d["description"]} if with_description and d["description"] else {}
        if d["cidr_ipv4"]:
            perm["IpRanges"] = [{"CidrIp": d["cidr_ipv4"], **desc}]
        elif d["cidr_ipv6"]:
            perm["Ipv6Ranges"] = [{"CidrIpv6": d["cidr_ipv6"], **desc}]
        elif d["prefix_list_id"]:
            perm["PrefixListIds"] = [{"PrefixListId": d["prefix_list_id"], **desc}]
        elif d["referenced_group_id"]:
            pair = {"GroupId": d["referenced_group_id"], **desc}
            if d["referenced_account_id"]:
                pair["UserId"] = d["referenced_account_id"]
            perm["UserIdGroupPairs"] = [pair]
        return perm

    def rule_request(self) -> dict:
        """A ``SecurityGroupRuleRequest`` for ModifySecurityGroupRules."""
        d = self.definition()
        req: dict[str, Any] = {"IpProtocol": d["protocol"]}
        if d["protocol"] != "-1":
            req["FromPort"] = d["from_port"] if d["from_port"] is not None else -1
            req["ToPort"] = d["to_port"] if d["to_port"] is not None else -1
        for key, name in (
            ("cidr_ipv4", "CidrIpv4"),
            ("cidr_ipv6", "CidrIpv6"),
            ("prefix_list_id", "PrefixListId"),
            ("referenced_group_id", "ReferencedGroupId"),
        ):
            if d[key]:
                req[name] = d[key]
                break
        if d["description"]:
            req["Description"] = d["description"]
        return req

    # --- words --------------------------------------------------------------------------
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

    @property
    def peer(self) -> str:
        """The peer for a sentence: "prefix list pl-…", else ``source``."""
        if self.prefix_list_id:
            return f"prefix list {self.prefix_list_id}"
        return self.source

    @property
    def name_of_protocol(self) -> str:
        return normalize_protocol(self.protocol)

    @property
    def all_protocols(self) -> bool:
        return self.name_of_protocol == "-1"

    @property
    def covers_all_ports(self) -> bool:
        return self.from_port in (None, -1, 0) and self.to_port in (None, -1, 65535)

    @property
    def ports(self) -> str:
        """ "22", "8000-8080" or "all ports"."""
        if self.from_port is None or self.covers_all_ports:
            return "all ports"
        if self.from_port == self.to_port or self.to_port is None:
            return str(self.from_port)
        return f"{self.from_port}-{self.to_port}"

    @property
    def what(self) -> str:
        """The traffic: "tcp/22", "all traffic", "icmp", "icmp type 8", "protocol 47"."""
        if self.all_protocols:
            return "all traffic"
        proto = self.name_of_protocol
        if proto in {"tcp", "udp"}:
            return f"{proto}/{self.ports}"
        if proto in {"icmp", "icmpv6"}:
            if self.from_port in (None, -1):
                return proto
            code = "" if self.to_port in (None, -1) else f" code {self.to_port}"
            return f"{proto} type {self.from_port}{code}"
        return f"protocol {proto}"

    def words(self, *, explicit_direction: bool = False) -> str:
        """The rule in words, the one wording of the whole portal: "tcp/22 from 0.0.0.0/0
        (office)", "outbound all traffic to ::/0", or with an unknown direction "tcp/22
        with 0.0.0.0/0 (direction unknown)" (never "to", which reads as egress).
        ``explicit_direction`` also names an ingress rule as such ("ingress tcp/22 from …"),
        for texts that list both directions side by side (revert plans)."""
        if self.direction == "ingress":
            prefix = "ingress " if explicit_direction else ""
            text = f"{prefix}{self.what} from {self.peer}"
        elif self.direction == "egress":
            text = f"outbound {self.what} to {self.peer}"
        else:
            text = f"{self.what} with {self.peer} (direction unknown)"
        if self.description:
            text += f" ({self.description})"
        return text


_FIELD_NAMES = tuple(f.name for f in fields(Rule))
_FIELD_SET = frozenset(_FIELD_NAMES)


def _get(rule: Rule | dict, key: str) -> Any:
    return rule.get(key) if isinstance(rule, dict) else getattr(rule, key)


def _port(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def definition_of(rule: Rule | dict) -> dict:
    """The cleaned definition of a rule or of any rule/definition dict: protocol by name,
    ports as numbers (none for all traffic: EC2 reports -1/-1 or nothing, both "all")."""
    protocol = normalize_protocol(_get(rule, "protocol"))
    out = {key: _get(rule, key) or None for key in DEFINITION_KEYS}
    out["protocol"] = protocol
    out["from_port"] = _port(_get(rule, "from_port"))
    out["to_port"] = _port(_get(rule, "to_port"))
    if protocol == "-1":
        out["from_port"] = out["to_port"] = None
    return out


def traffic_key(rule: Rule | dict) -> tuple:
    """What identifies a rule's traffic (not its direction, id or description). IPv6 is
    compared case-insensitively: EC2 and CloudTrail may spell the same CIDR differently."""
    get = rule.get if isinstance(rule, dict) else rule.__getattribute__
    protocol = normalize_protocol(get("protocol"))
    ports = (None, None) if protocol == "-1" else (_port(get("from_port")), _port(get("to_port")))
    cidr_ipv6 = get("cidr_ipv6")
    return (
        protocol,
        *ports,
        get("cidr_ipv4") or None,
        cidr_ipv6.lower() if cidr_ipv6 else None,
        get("prefix_list_id") or None,
        get("referenced_group_id") or None,
    )


def match_key(rule: Rule | dict) -> tuple:
    """What makes two rules the same rule to EC2: direction and traffic (not the
    description)."""
    return (_get(rule, "direction") or None, *traffic_key(rule))


def same_definition(a: Rule | dict, b: Rule | dict) -> bool:
    """Equal including the description (what a modify can change)."""
    return match_key(a) == match_key(b) and (_get(a, "description") or None) == (
        _get(b, "description") or None
    )


def is_complete(rule: Rule | dict) -> bool:
    """Whether the rule says what it allows (a protocol and one peer)."""
    return bool(_get(rule, "protocol")) and any(_get(rule, k) for k in SOURCE_KEYS)
