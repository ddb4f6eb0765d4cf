"""Pure rule matching: a change's facts against compiled match specs. No database here.

A match spec is a JSON object (see ``approvals.policy.models.MATCH_HELP``); every key is
optional and all given keys must hold. Change-level keys (account, region, VPC, group,
actor, event, source) test the change; rule-level keys (direction, protocols, ports, peer,
rule_actions) must all hold on *one* of the change's rules.

``RuleSet`` keeps compiled specs in order and finds the first that matches. To stay well
under a millisecond with hundreds of rules it narrows the candidates first with bitmasks
(Python ints, one bit per rule) over the change-level keys that are exact values: a rule
that names accounts only sits in the masks of those accounts; a rule that does not name
any sits in the "any" mask. Only the candidates' full predicates run, lowest bit first.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingestion.rules import Rule, normalize_protocol

WORLD_V4 = ipaddress.ip_network("0.0.0.0/0")
WORLD_V6 = ipaddress.ip_network("::/0")
PORTED = {"tcp", "udp"}

LIST_KEYS = (
    "accounts",
    "regions",
    "vpcs",
    "group_ids",
    "group_names",
    "actor_arns",
    "actor_types",
    "tools",
    "event_names",
    "sources",
    "protocols",
    "peer_cidrs",
    "prefix_lists",
    "group_refs",
    "rule_actions",
)
KNOWN_KEYS = frozenset((*LIST_KEYS, "direction", "ports", "world", "via_spoke_role", "group_tags"))
# Change-level keys with exact values index the candidates (fact attribute per key).
INDEXED = {
    "accounts": "account",
    "regions": "region",
    "vpcs": "vpc",
    "group_ids": "group_id",
    "actor_types": "actor_type",
    "event_names": "event_name",
    "sources": "source",
}
RULE_ACTIONS = {"added", "removed", "modified"}
SOURCES = {"lake", "eventbridge", "trail", "manual"}


class MatchError(ValueError):
    """A match spec that cannot be compiled; the message names the field."""


@dataclass(frozen=True, slots=True)
class Perm:
    """One rule of a change, reduced to what matching needs."""

    action: str
    direction: str
    protocol: str  # normalized: tcp, udp, icmp, icmpv6, -1 (all), or a number
    lo: int  # port range; all traffic and "no ports given" on tcp/udp: 0-65535
    hi: int
    net: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    prefix_list: str
    ref_group: str

    @property
    def world(self) -> bool:
        return self.net is not None and self.net.prefixlen == 0

    @property
    def ported(self) -> bool:
        return self.protocol == "-1" or self.protocol in PORTED


@dataclass(frozen=True, slots=True)
class Facts:
    """A change as the matcher sees it (built once per change, see ``facts_of``)."""

    account: str = ""
    region: str = ""
    vpc: str = ""
    group_id: str = ""
    group_name: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    event_name: str = ""
    source: str = ""
    actor_arn: str = ""
    actor_type: str = ""
    tool: str = ""
    via_spoke_role: bool = False
    perms: tuple[Perm, ...] = ()

    @property
    def opens_world(self) -> bool:
        """Whether the change leaves an inbound rule open to the whole internet."""
        return any(
            p.world and p.direction == "ingress" and p.action != "removed" for p in self.perms
        )


def _network(text: str | None):
    if not text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def perm_of(rule: Rule) -> Perm:
    protocol = normalize_protocol(rule.protocol)
    if protocol == "-1" or (protocol in PORTED and rule.from_port in (None, -1)):
        lo, hi = 0, 65535
    elif protocol in PORTED:
        lo = int(rule.from_port)
        hi = int(rule.to_port) if rule.to_port is not None else lo
    else:
        lo = hi = -1
    return Perm(
        action=rule.action,
        direction=rule.direction,
        protocol=protocol,
        lo=lo,
        hi=hi,
        net=_network(rule.cidr_ipv4) or _network(rule.cidr_ipv6),
        prefix_list=rule.prefix_list_id or "",
        ref_group=rule.referenced_group_id or "",
    )


def tags_of(raw: Any) -> tuple[tuple[str, str], ...]:
    """Tags named in the record itself (CreateSecurityGroup's TagSpecifications)."""
    try:
        specs = raw["requestParameters"]["tagSpecificationSet"]["items"]
    except (KeyError, TypeError):
        return ()
    found = []
    for spec in specs if isinstance(specs, list) else []:
        items = (spec.get("tags") or {}).get("items") if isinstance(spec, dict) else None
        for tag in items if isinstance(items, list) else []:
            if isinstance(tag, dict) and "key" in tag:
                found.append((str(tag["key"]), str(tag.get("value", ""))))
    return tuple(found)


# --- compiling a spec ---------------------------------------------------------------------


def _glob(patterns: Sequence[str], *, fold: bool = False) -> Callable[[str], bool]:
    """One regex for a list of shell-style patterns (exact strings stay a set lookup)."""
    if not any(ch in p for p in patterns for ch in "*?["):
        values = frozenset(p.lower() for p in patterns) if fold else frozenset(patterns)
        return (lambda v: v.lower() in values) if fold else values.__contains__
    regex = re.compile(
        "|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.IGNORECASE if fold else 0
    )
    return lambda v: regex.match(v) is not None


def _port_range(text: Any, where: str) -> tuple[int, int]:
    value = str(text).strip()
    match = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", value)
    if not match:
        raise MatchError(f"{where}: {value!r} is not a port or a range like 1024-2048")
    lo = int(match.group(1))
    hi = int(match.group(2) or lo)
    if not (0 <= lo <= hi <= 65535):
        raise MatchError(f"{where}: {value!r} is not a range within 0-65535")
    return lo, hi


@dataclass(frozen=True, slots=True)
class CompiledMatch:
    """A validated spec: ``index`` (exact values per indexed key) and the full predicate."""

    spec: dict
    index: dict[str, frozenset[str]]
    test: Callable[[Facts], bool]


def compile_match(spec: Any) -> CompiledMatch:
    """Validate ``spec`` and build its predicate; raises MatchError naming the field."""
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise MatchError("match: must be a JSON object")
    unknown = sorted(set(spec) - KNOWN_KEYS)
    if unknown:
        raise MatchError(
            f"match.{unknown[0]}: unknown key (known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    for key in LIST_KEYS:
        if key in spec:
            value = spec[key]
            if not isinstance(value, list) or not value:
                raise MatchError(f"match.{key}: must be a non-empty list")
            if not all(isinstance(item, str) and item for item in value):
                raise MatchError(f"match.{key}: every item must be a non-empty string")
    for key in ("world", "via_spoke_role"):
        if key in spec and not isinstance(spec[key], bool):
            raise MatchError(f"match.{key}: must be true or false")
    if "direction" in spec and spec["direction"] not in ("ingress", "egress"):
        raise MatchError("match.direction: must be 'ingress' or 'egress'")
    if "rule_actions" in spec and not set(spec["rule_actions"]) <= RULE_ACTIONS:
        raise MatchError("match.rule_actions: items must be added, removed or modified")
    if "sources" in spec and not set(spec["sources"]) <= SOURCES:
        raise MatchError(f"match.sources: items must be among {', '.join(sorted(SOURCES))}")
    if "accounts" in spec:
        for account in spec["accounts"]:
            if not re.fullmatch(r"[\d*?]{1,12}", account):
                raise MatchError(f"match.accounts: {account!r} is not a 12-digit account id")
    tags = spec.get("group_tags")
    if tags is not None and (
        not isinstance(tags, dict)
        or not tags
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    ):
        raise MatchError("match.group_tags: must be an object of tag name -> value")
    ports: list[tuple[int, int]] = []
    if "ports" in spec:
        raw = spec["ports"]
        items = raw if isinstance(raw, list) else [raw]
        if not items or not all(
            isinstance(p, str | int) and not isinstance(p, bool) for p in items
        ):
            raise MatchError("match.ports: a port, a range like '1024-2048', or a list of them")
        ports = [_port_range(p, "match.ports") for p in items]
    networks = []
    for cidr in spec.get("peer_cidrs", []):
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            raise MatchError(f"match.peer_cidrs: {cidr!r} is not a CIDR") from None
    protocols = frozenset(normalize_protocol(p) for p in spec.get("protocols", []))

    index = {}
    for key in INDEXED:
        if key in spec and not any(ch in v for v in spec[key] for ch in "*?["):
            index[key] = frozenset(spec[key])

    change_tests: list[Callable[[Facts], bool]] = []

    def on(attr: str, key: str, *, fold: bool = False) -> None:
        if key in spec:
            matches = _glob(spec[key], fold=fold)
            change_tests.append(lambda f: matches(getattr(f, attr)))

    on("account", "accounts")
    on("region", "regions")
    on("vpc", "vpcs")
    on("group_id", "group_ids")
    on("group_name", "group_names")
    on("actor_arn", "actor_arns")
    on("actor_type", "actor_types", fold=True)
    on("tool", "tools", fold=True)
    on("event_name", "event_names")
    on("source", "sources")
    if "via_spoke_role" in spec:
        wanted = spec["via_spoke_role"]
        change_tests.append(lambda f: f.via_spoke_role is wanted)
    if tags:
        tag_tests = [(k, _glob([v])) for k, v in tags.items()]
        change_tests.append(
            lambda f: all(any(k == tk and t(tv) for tk, tv in f.tags) for k, t in tag_tests)
        )

    perm_tests: list[Callable[[Perm], bool]] = []
    if "direction" in spec:
        direction = spec["direction"]
        perm_tests.append(lambda p: p.direction == direction)
    if "rule_actions" in spec:
        actions = frozenset(spec["rule_actions"])
        perm_tests.append(lambda p: p.action in actions)
    if protocols:
        # All traffic (-1) carries every protocol, so it matches any protocol asked for.
        perm_tests.append(lambda p: p.protocol in protocols or p.protocol == "-1")
    if ports:
        perm_tests.append(lambda p: p.ported and any(p.lo <= hi and lo <= p.hi for lo, hi in ports))
    if networks:
        perm_tests.append(
            lambda p: (
                p.net is not None
                and any(p.net.version == n.version and p.net.subnet_of(n) for n in networks)
            )
        )
    if "world" in spec:
        world = spec["world"]
        perm_tests.append(lambda p: p.world is world)
    if "prefix_lists" in spec:
        prefix = _glob(spec["prefix_lists"])
        perm_tests.append(lambda p: bool(p.prefix_list) and prefix(p.prefix_list))
    if "group_refs" in spec:
        refs = _glob(spec["group_refs"])
        perm_tests.append(lambda p: bool(p.ref_group) and refs(p.ref_group))

    if perm_tests:

        def perm_ok(p: Perm) -> bool:
            return all(t(p) for t in perm_tests)

        change_tests.append(lambda f: any(perm_ok(p) for p in f.perms))

    if not change_tests:
        test = _always
    elif len(change_tests) == 1:
        test = change_tests[0]
    else:

        def test(f: Facts) -> bool:
            return all(t(f) for t in change_tests)

    return CompiledMatch(spec=dict(spec), index=index, test=test)


def _always(facts: Facts) -> bool:
    return True


# --- ordered sets of rules ------------------------------------------------------------------


@dataclass
class RuleSet:
    """Compiled specs in order (first match wins), with bitmask candidate indexes."""

    entries: list[tuple[CompiledMatch, Any]] = field(default_factory=list)
    _any: dict[str, int] = field(default_factory=dict)
    _by_value: dict[str, dict[str, int]] = field(default_factory=dict)
    _all: int = 0

    @classmethod
    def build(cls, items: Iterable[tuple[CompiledMatch, Any]]) -> RuleSet:
        ruleset = cls(entries=list(items))
        ruleset._all = (1 << len(ruleset.entries)) - 1
        for key in INDEXED:
            any_mask = 0
            by_value: dict[str, int] = {}
            for i, (compiled, _payload) in enumerate(ruleset.entries):
                values = compiled.index.get(key)
                if values is None:
                    any_mask |= 1 << i
                else:
                    for value in values:
                        by_value[value] = by_value.get(value, 0) | (1 << i)
            if by_value:  # a key no rule indexes narrows nothing: skip it
                ruleset._any[key] = any_mask
                ruleset._by_value[key] = by_value
        return ruleset

    def __len__(self) -> int:
        return len(self.entries)

    def candidates(self, facts: Facts) -> int:
        mask = self._all
        for key, any_mask in self._any.items():
            mask &= any_mask | self._by_value[key].get(getattr(facts, INDEXED[key]), 0)
            if not mask:
                break
        return mask

    def matches(self, facts: Facts, accept: Callable[[Any], bool] | None = None):
        """Payloads of the matching entries, in order (lazily)."""
        mask = self.candidates(facts)
        entries = self.entries
        while mask:
            low = mask & -mask
            compiled, payload = entries[low.bit_length() - 1]
            mask ^= low
            if (accept is None or accept(payload)) and compiled.test(facts):
                yield payload

    def first(self, facts: Facts, accept: Callable[[Any], bool] | None = None) -> Any:
        """The payload of the first entry that matches (and that ``accept`` takes), or None."""
        return next(self.matches(facts, accept), None)
