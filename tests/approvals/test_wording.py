"""Issue 10, items 6-8: rules revoked by id and modifies in words (with the rule inventory),
severity on a modify's new definition, and what a deny will do, in Slack and on the web."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from approvals import wording
from approvals.slack.blocks import build_blocks, deny_reason_view
from ingestion.rules import Rule
from remediation import inventory
from tests.approvals.factories import ChangeFactory, SlackMessageFactory

BEFORE = dt.datetime(2026, 9, 14, 7, 0, tzinfo=dt.UTC)  # the change happens at 08:05


def unresolved_revoke(rule_id: str = "sgr-0revoked") -> list[dict]:
    return [
        Rule(
            action="removed",
            direction="ingress",
            protocol="",
            rule_id=rule_id,
            extra={"unresolved": "revoked by rule id; details from the rule inventory"},
        ).to_json()
    ]


def modify_to_world_ssh(rule_id: str = "sgr-0modified") -> list[dict]:
    return [
        Rule(
            action="modified",
            direction="",  # type: ignore[arg-type]  # a modify does not say
            protocol="tcp",
            from_port=22,
            to_port=22,
            cidr_ipv4="0.0.0.0/0",
            rule_id=rule_id,
        ).to_json()
    ]


def known(change, rule_id: str, **definition) -> None:
    """The inventory saw ``rule_id`` with this definition before the change."""
    inventory.observe(
        change.account, change.region, change.group_id, rule_id, definition, at=BEFORE
    )


OFFICE_SSH = {
    "direction": "ingress",
    "protocol": "tcp",
    "from_port": 22,
    "to_port": 22,
    "cidr_ipv4": "10.0.0.0/8",
}


def test_a_revoke_by_rule_id_shows_the_rule_id_and_the_inventorys_definition(account):
    change = ChangeFactory(
        account=account, event_name="RevokeSecurityGroupIngress", rules=unresolved_revoke()
    )
    assert wording.rules_in_words(change) == [
        "removed: rule sgr-0revoked (definition unknown to the inventory)"
    ]
    known(change, "sgr-0revoked", **OFFICE_SSH, description="office")
    assert wording.rules_in_words(change) == [
        "removed: rule sgr-0revoked: tcp/22 from 10.0.0.0/8 (office)"
    ]


def test_a_modify_shows_before_and_after_and_never_guesses_egress(account):
    change = ChangeFactory(
        account=account, event_name="ModifySecurityGroupRules", rules=modify_to_world_ssh()
    )
    (unknown,) = wording.rules_in_words(change)
    assert " to " not in unknown
    assert unknown == (
        "modified sgr-0modified: earlier definition unknown → "
        "tcp/22 with 0.0.0.0/0 (direction unknown)"
    )
    known(change, "sgr-0modified", **OFFICE_SSH)
    assert wording.rules_in_words(change) == [
        "modified sgr-0modified: tcp/22 from 10.0.0.0/8 → tcp/22 from 0.0.0.0/0"
    ]


def test_a_modify_that_opens_ssh_to_the_world_is_critical(account):
    change = ChangeFactory(
        account=account, event_name="ModifySecurityGroupRules", rules=modify_to_world_ssh()
    )
    assert wording.severity_of(change) == wording.CRITICAL  # direction unknown: worst case
    known(change, "sgr-0modified", **OFFICE_SSH)
    assert wording.severity_of(change) == wording.CRITICAL
    egress = ChangeFactory(
        account=account, event_name="ModifySecurityGroupRules", rules=modify_to_world_ssh("e")
    )
    known(egress, "e", **{**OFFICE_SSH, "direction": "egress"})
    assert wording.severity_of(egress) == wording.MEDIUM


@pytest.mark.parametrize(
    ("event_name", "effect"),
    [
        ("AuthorizeSecurityGroupIngress", "The added rule will be removed from sg-"),
        ("RevokeSecurityGroupEgress", "The removed rule will be added back to sg-"),
        ("ModifySecurityGroupRules", "will be restored to the earlier definition"),
        ("CreateSecurityGroup", "Nothing will be reverted"),
        ("DeleteSecurityGroup", "Nothing will be reverted"),
    ],
)
def test_the_deny_confirmation_says_what_denying_does(account, event_name, effect, reasonless_deny):
    change = ChangeFactory(account=account, event_name=event_name)
    message = SlackMessageFactory(change=change, channel="C1", ts="1.1", status="posted")
    actions = next(b for b in build_blocks(message) if b["type"] == "actions")
    deny = next(e for e in actions["elements"] if e["action_id"] == "deny")
    assert effect in deny["confirm"]["text"]["text"]
    # The reason modal (the switch on) says the same.
    assert effect in str(deny_reason_view(change, "{}")["blocks"])
    assert "The rules will be removed from the security group." not in str(actions)
    reverts = event_name not in {"CreateSecurityGroup", "DeleteSecurityGroup"}
    assert (deny["text"]["text"] == "Deny (revert)") is reverts


def test_the_change_page_says_what_denying_does(client, approver, outsider, account):
    change = ChangeFactory(account=account, event_name="RevokeSecurityGroupIngress")
    url = reverse("approvals:change_detail", args=[change.pk])
    client.force_login(approver)
    page = client.get(url).content.decode()
    assert "If denied: The removed rule will be added back to sg-0123456789abcdef0." in page
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_slack_shows_a_revoke_by_rule_id_with_its_rule_id(account):
    change = ChangeFactory(
        account=account, event_name="RevokeSecurityGroupIngress", rules=unresolved_revoke()
    )
    known(change, "sgr-0revoked", **OFFICE_SSH)
    message = SlackMessageFactory(change=change, channel="C1", ts="1.2", status="posted")
    text = str(build_blocks(message))
    assert "removed: rule sgr-0revoked: tcp/22 from 10.0.0.0/8" in text
    assert "protocol  from ?" not in text
