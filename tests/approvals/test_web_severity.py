"""The stored severity (issue 13): rated at ingest exactly as ``wording.severity_of`` rates
an unsaved change, rule by rule from a cache."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from approvals import wording
from approvals.rating import rate_at_ingest
from ingestion.rules import Rule


def rule(**kw) -> dict:
    base = {"action": "added", "direction": "ingress", "protocol": "tcp", "from_port": 443}
    base.update(kw)
    base.setdefault("to_port", base["from_port"])
    return Rule(**base).to_json()


CASES = [
    [],
    [rule(cidr_ipv4="10.0.0.0/8")],
    [rule(cidr_ipv4="0.0.0.0/0")],
    [rule(cidr_ipv4="0.0.0.0/0", from_port=22, rule_id="sgr-1")],
    [rule(cidr_ipv6="::/0", protocol="-1", from_port=None, to_port=None)],
    [rule(cidr_ipv4="0.0.0.0/0", direction="egress", from_port=3389)],
    [rule(cidr_ipv4="0.0.0.0/0", action="removed", from_port=22)],
    [rule(cidr_ipv4="0.0.0.0/0", action="modified", direction="", from_port=5432)],
    [rule(cidr_ipv4="10.0.0.0/8"), rule(cidr_ipv4="0.0.0.0/0", from_port=80, description="x")],
    [{"not": "a rule"}, rule(cidr_ipv4="0.0.0.0/0", from_port=80)],
]


@pytest.mark.parametrize("rules", CASES)
@pytest.mark.parametrize(
    ("spoke", "status"), [(False, "pending"), (True, "pending"), (True, "ours")]
)
def test_it_rates_as_describe_does(rules, spoke, status):
    unsaved = SimpleNamespace(pk=None, rules=rules, via_spoke_role=spoke, status=status)
    assert rate_at_ingest(rules, spoke, status) == wording.severity_of(unsaved).level


def test_rule_ids_and_descriptions_share_one_rating():
    a = rule(cidr_ipv4="0.0.0.0/0", from_port=22, rule_id="sgr-a", description="a")
    b = rule(cidr_ipv4="0.0.0.0/0", from_port=22, rule_id="sgr-b", description="b")
    assert rate_at_ingest([a], False, "pending") == rate_at_ingest([b], False, "pending") == 4
