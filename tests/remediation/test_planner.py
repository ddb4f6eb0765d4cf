"""Plans for each event type, from records and the inventory."""

from __future__ import annotations

import pytest

from ingestion.models import SecurityGroupChange
from remediation import planner
from tests.remediation.helpers import ingress, rule_json


def change(event_name, rules, **kw):
    return SecurityGroupChange(event_name=event_name, group_id="sg-1", rules=rules, **kw)


def no_inventory(rule_id):
    return None


def test_it_revokes_by_id_and_falls_back_to_permissions_per_rule():
    plan = planner.plan_revert(
        change(
            "AuthorizeSecurityGroupIngress",
            [
                rule_json("added", ingress(22), "sgr-1"),
                rule_json(
                    "added", {"direction": "ingress", "protocol": "-1", "prefix_list_id": "pl-1"}
                ),
            ],
        ),
        no_inventory,
    )

    assert [c["params"] for c in plan["calls"]] == [
        {"GroupId": "sg-1", "SecurityGroupRuleIds": ["sgr-1"]},
        {
            "GroupId": "sg-1",
            "IpPermissions": [{"IpProtocol": "-1", "PrefixListIds": [{"PrefixListId": "pl-1"}]}],
        },
    ]
    assert [e["state"] for e in plan["expect"]] == ["absent", "absent"]


def test_it_reauthorizes_group_references_with_their_owner():
    ref = {
        "direction": "ingress",
        "protocol": "tcp",
        "from_port": 5432,
        "to_port": 5432,
        "referenced_group_id": "sg-9",
        "referenced_account_id": "111111111111",
    }
    plan = planner.plan_revert(
        change(
            "RevokeSecurityGroupIngress",
            [rule_json("removed", ref)],
        ),
        no_inventory,
    )

    assert plan["calls"][0]["params"]["IpPermissions"] == [
        {
            "IpProtocol": "tcp",
            "FromPort": 5432,
            "ToPort": 5432,
            "UserIdGroupPairs": [{"GroupId": "sg-9", "UserId": "111111111111"}],
        }
    ]


def test_it_uses_the_inventory_for_a_revoke_by_id():
    known = ingress(443, description="https")
    plan = planner.plan_revert(
        change(
            "RevokeSecurityGroupIngress",
            [{"action": "removed", "direction": "ingress", "protocol": "", "rule_id": "sgr-7"}],
        ),
        {"sgr-7": known}.get,
    )
    assert plan["calls"][0]["operation"] == "AuthorizeSecurityGroupIngress"
    assert plan["calls"][0]["params"]["IpPermissions"][0]["IpRanges"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "https"}
    ]


def test_it_refuses_a_revoke_by_id_with_no_prior_state():
    plan = planner.plan_revert(
        change(
            "RevokeSecurityGroupIngress",
            [{"action": "removed", "direction": "ingress", "protocol": "", "rule_id": "sgr-7"}],
        ),
        no_inventory,
    )
    assert plan["revertible"] is False
    assert plan["reason"] == "no prior state known for sgr-7"


def test_it_restores_a_modify_with_the_old_values():
    old = {
        "direction": "ingress",
        "protocol": "icmp",
        "from_port": 8,
        "to_port": 0,
        "cidr_ipv6": "2001:db8::/32",
    }
    plan = planner.plan_revert(
        change("ModifySecurityGroupRules", [rule_json("modified", ingress(3389), "sgr-2")]),
        {"sgr-2": old}.get,
    )
    assert plan["calls"][0]["params"]["SecurityGroupRules"] == [
        {
            "SecurityGroupRuleId": "sgr-2",
            "SecurityGroupRule": {
                "IpProtocol": "icmp",
                "FromPort": 8,
                "ToPort": 0,
                "CidrIpv6": "2001:db8::/32",
            },
        }
    ]


@pytest.mark.parametrize("name", ["CreateSecurityGroup", "DeleteSecurityGroup", "DescribeVpcs"])
def test_it_does_not_plan_other_events(name):
    plan = planner.plan_revert(change(name, []), no_inventory)
    assert plan["revertible"] is False
    assert plan["reason"]


def test_it_does_not_revert_failed_calls():
    plan = planner.plan_revert(
        change(
            "AuthorizeSecurityGroupIngress",
            [rule_json("added", ingress(22))],
            error_code="Client.UnauthorizedOperation",
        ),
        no_inventory,
    )
    assert plan["revertible"] is False
    assert "Client.UnauthorizedOperation" in plan["reason"]
