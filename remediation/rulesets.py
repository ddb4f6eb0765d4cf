"""One normalized rule definition, and conversions to and from EC2's shapes.

A *definition* is a plain dict (JSON-able) with the keys in ``DEFINITION_KEYS``; it is what
the inventory stores, what snapshots hold and what plans and checks compare. It is built
from an ``ingestion.rules.Rule`` JSON dict or from a DescribeSecurityGroupRules item, and
turned into an ``IpPermissions`` entry (authorize/revoke) or a ``SecurityGroupRuleRequest``
(modify).
"""

from __future__ import annotations

from typing import Any

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
_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


def normalize_protocol(value: Any) -> str:
    text = str(value if value is not None else "").strip().lower()
    return _PROTOCOL_NAMES.get(text, text)


def _port(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _clean(definition: dict) -> dict:
    protocol = normalize_protocol(definition.get("protocol"))
    out = {key: definition.get(key) or None for key in DEFINITION_KEYS}
    out["protocol"] = protocol
    out["from_port"] = _port(definition.get("from_port"))
    out["to_port"] = _port(definition.get("to_port"))
    if protocol == "-1":  # EC2 reports -1/-1 or nothing; both mean "all ports"
        out["from_port"] = out["to_port"] = None
    return out


def from_rule_json(rule: dict) -> dict:
    """A definition from an ``ingestion.rules.Rule.to_json()`` dict."""
    return _clean(rule)


def from_describe(item: dict) -> dict:
    """A definition from one DescribeSecurityGroupRules ``SecurityGroupRules`` item."""
    ref = item.get("ReferencedGroupInfo") or {}
    return _clean(
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
        }
    )


def is_complete(definition: dict) -> bool:
    """Whether the definition says what the rule allows (a protocol and one source)."""
    return bool(definition.get("protocol")) and any(definition.get(k) for k in SOURCE_KEYS)


def match_key(definition: dict) -> tuple:
    """What makes two rules the same rule to EC2 (the description does not)."""
    d = _clean(definition)
    return (
        d["direction"],
        d["protocol"],
        d["from_port"],
        d["to_port"],
        d["cidr_ipv4"],
        d["cidr_ipv6"],
        d["prefix_list_id"],
        d["referenced_group_id"],
    )


def same_definition(a: dict, b: dict) -> bool:
    """Equal including the description (what a modify can change)."""
    return match_key(a) == match_key(b) and (a.get("description") or None) == (
        b.get("description") or None
    )


def ip_permission(definition: dict, *, with_description: bool = True) -> dict:
    """One ``IpPermissions`` entry for authorize/revoke calls."""
    d = _clean(definition)
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


def rule_request(definition: dict) -> dict:
    """A ``SecurityGroupRuleRequest`` for ModifySecurityGroupRules."""
    d = _clean(definition)
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


def describe_text(definition: dict) -> str:
    """``ingress tcp/22 from 0.0.0.0/0`` for messages."""
    d = _clean(definition)
    ports = ""
    if d["from_port"] is not None:
        same = d["from_port"] == d["to_port"]
        ports = f"/{d['from_port']}" if same else f"/{d['from_port']}-{d['to_port']}"
    source = next((d[k] for k in SOURCE_KEYS if d[k]), "?")
    proto = "all" if d["protocol"] == "-1" else d["protocol"]
    return (
        f"{d['direction']} {proto}{ports} {'to' if d['direction'] == 'egress' else 'from'} {source}"
    )
