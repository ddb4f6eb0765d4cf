"""The matcher (issue 15) against a plain reference matcher, as property tests."""

from __future__ import annotations

import datetime as dt
import fnmatch
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approvals.policy.matcher import (
    Facts,
    MatchError,
    Perm,
    RuleSet,
    compile_match,
    normalize_protocol,
)

ACCOUNTS = ["111111111111", "222222222222", "333333333333"]
REGIONS = ["eu-west-1", "us-east-1", "ap-south-1"]
EVENTS = ["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "CreateSecurityGroup"]
CIDRS = ["0.0.0.0/0", "10.0.0.0/8", "10.1.2.0/24", "192.168.1.7/32", "::/0", "2001:db8::/32"]
TOOLS = ["Terraform", "AWS CLI", "AWS console"]


# --- the reference: the spec read literally, no index, no precompilation ---------------


def ref_glob(patterns, value, fold=False):
    if fold:
        return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def ref_perm(spec, p):
    if "direction" in spec and p.direction != spec["direction"]:
        return False
    if "rule_actions" in spec and p.action not in spec["rule_actions"]:
        return False
    if "protocols" in spec:
        wanted = {normalize_protocol(x) for x in spec["protocols"]}
        if p.protocol != "-1" and p.protocol not in wanted:
            return False
    if "ports" in spec:
        items = spec["ports"] if isinstance(spec["ports"], list) else [spec["ports"]]
        if not (p.protocol == "-1" or p.protocol in ("tcp", "udp")):
            return False
        hit = False
        for item in items:
            lo, _, hi = str(item).partition("-")
            lo, hi = int(lo), int(hi or lo)
            if p.lo <= hi and lo <= p.hi:
                hit = True
        if not hit:
            return False
    if "peer_cidrs" in spec:
        if p.net is None:
            return False
        nets = [ipaddress.ip_network(c, strict=False) for c in spec["peer_cidrs"]]
        if not any(n.version == p.net.version and p.net.subnet_of(n) for n in nets):
            return False
    if "world" in spec and (p.net is not None and p.net.prefixlen == 0) != spec["world"]:
        return False
    if "prefix_lists" in spec and not (
        p.prefix_list and ref_glob(spec["prefix_lists"], p.prefix_list)
    ):
        return False
    return not (
        "group_refs" in spec and not (p.ref_group and ref_glob(spec["group_refs"], p.ref_group))
    )


PERM_KEYS = {"direction", "rule_actions", "protocols", "ports", "peer_cidrs", "world"}
PERM_KEYS |= {"prefix_lists", "group_refs"}


def ref_match(spec, f: Facts) -> bool:
    pairs = [
        ("accounts", f.account, False),
        ("regions", f.region, False),
        ("vpcs", f.vpc, False),
        ("group_ids", f.group_id, False),
        ("group_names", f.group_name, False),
        ("actor_arns", f.actor_arn, False),
        ("actor_types", f.actor_type, True),
        ("tools", f.tool, True),
        ("event_names", f.event_name, False),
        ("sources", f.source, False),
    ]
    for key, value, fold in pairs:
        if key in spec and not ref_glob(spec[key], value, fold):
            return False
    if "via_spoke_role" in spec and f.via_spoke_role != spec["via_spoke_role"]:
        return False
    if PERM_KEYS & set(spec):
        return any(ref_perm(spec, p) for p in f.perms)
    return True


def ref_first(specs, f):
    return next((i for i, spec in enumerate(specs) if ref_match(spec, f)), None)


# --- strategies -------------------------------------------------------------------------

perms = st.builds(
    lambda action, direction, proto, lo, width, cidr: Perm(
        action=action,
        direction=direction,
        protocol=proto,
        lo=0 if proto == "-1" else (lo if proto in ("tcp", "udp") else -1),
        hi=65535 if proto == "-1" else (min(65535, lo + width) if proto in ("tcp", "udp") else -1),
        net=ipaddress.ip_network(cidr) if cidr else None,
        prefix_list="" if cidr else "pl-0abc",
        ref_group="",
    ),
    st.sampled_from(["added", "removed", "modified"]),
    st.sampled_from(["ingress", "egress"]),
    st.sampled_from(["tcp", "udp", "icmp", "-1"]),
    st.integers(0, 6000),
    st.sampled_from([0, 0, 1, 100, 65535]),
    st.sampled_from([*CIDRS, None]),
)
facts = st.builds(
    Facts,
    account=st.sampled_from(ACCOUNTS),
    region=st.sampled_from(REGIONS),
    event_name=st.sampled_from(EVENTS),
    tool=st.sampled_from(TOOLS),
    actor_arn=st.sampled_from(["arn:aws:iam::111111111111:user/a", "arn:aws:sts::1:role/ci-x"]),
    source=st.sampled_from(["lake", "eventbridge"]),
    via_spoke_role=st.booleans(),
    perms=st.lists(perms, max_size=3).map(tuple),
)


def sub(values):
    return st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True)


specs = st.fixed_dictionaries(
    {},
    optional={
        "accounts": sub([*ACCOUNTS, "1111*"]),
        "regions": sub([*REGIONS, "eu-*"]),
        "event_names": sub(EVENTS),
        "tools": sub(["terraform", "AWS CLI", "aws *"]),
        "actor_arns": sub(["arn:aws:sts::*:role/ci-*", "arn:aws:iam::111111111111:user/a"]),
        "sources": sub(["lake", "eventbridge"]),
        "via_spoke_role": st.booleans(),
        "direction": st.sampled_from(["ingress", "egress"]),
        "rule_actions": sub(["added", "removed", "modified"]),
        "protocols": sub(["tcp", "udp", "6", "icmp", "-1"]),
        "ports": st.sampled_from(["22", "0-1024", "5000-6000", ["22", "3389"], 443]),
        "peer_cidrs": sub(["10.0.0.0/8", "0.0.0.0/0", "192.168.0.0/16", "2001:db8::/32"]),
        "world": st.booleans(),
        "prefix_lists": sub(["pl-*", "pl-0zzz"]),
    },
)


@settings(max_examples=300, deadline=None)
@given(spec=specs, f=facts)
def test_it_matches_exactly_when_the_reference_does(spec, f):
    assert compile_match(spec).test(f) is ref_match(spec, f)


@settings(max_examples=200, deadline=None)
@given(rule_specs=st.lists(specs, max_size=25), f=facts)
def test_it_picks_the_same_first_rule_as_a_linear_scan(rule_specs, f):
    ruleset = RuleSet.build((compile_match(spec), i) for i, spec in enumerate(rule_specs))
    assert ruleset.first(f) == ref_first(rule_specs, f)
    assert list(ruleset.matches(f)) == [
        i for i, spec in enumerate(rule_specs) if ref_match(spec, f)
    ]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"accounts": "111111111111"}, "match.accounts"),
        ({"ports": "22-10"}, "match.ports"),
        ({"peer_cidrs": ["10.0.0.300/8"]}, "match.peer_cidrs"),
        ({"direction": "in"}, "match.direction"),
        ({"colour": ["red"]}, "match.colour"),
        ({"world": "yes"}, "match.world"),
        ([], "match"),
    ],
)
def test_it_names_the_field_of_a_bad_spec(spec, field):
    with pytest.raises(MatchError) as caught:
        compile_match(spec)
    assert str(caught.value).startswith(field)


def test_exceptions_past_their_expiry_are_skipped():
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    ruleset = RuleSet.build(
        [(compile_match({}), now - dt.timedelta(seconds=1)), (compile_match({}), now)]
    )
    assert ruleset.first(Facts(), lambda expires: expires > now) is None
    assert ruleset.first(Facts(), lambda expires: expires >= now) == now
