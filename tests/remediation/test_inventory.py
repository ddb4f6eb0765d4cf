"""The inventory keeps history, so the state before a change survives later refreshes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ingestion import rules
from remediation import inventory
from remediation.models import InventoryRule, InventoryRuleVersion
from tests.remediation.helpers import REGION, ingress, make_change, rule_json

pytestmark = pytest.mark.django_db
GROUP = "sg-0c3d4e5f6a7b8c9d0"


def snap(definition, rule_id="sgr-0c0ffee0c0ffee000"):
    return [{"rule_id": rule_id, "definition": definition}]


def modify_at(account, when, new):
    return make_change(
        account,
        "ModifySecurityGroupRules",
        GROUP,
        [rule_json("modified", new, "sgr-0c0ffee0c0ffee000")],
        event_time=when,
    )


def test_it_finds_the_definition_in_effect_before_a_change(account):
    now = timezone.now()
    old, new = ingress(22, "10.0.0.0/8"), ingress(3389, description="temp rdp")
    inventory.record_snapshot(account, REGION, GROUP, snap(old), at=now - timedelta(hours=2))
    inventory.record_snapshot(account, REGION, GROUP, snap(old), at=now - timedelta(hours=1))
    change = modify_at(account, now - timedelta(minutes=30), new)
    inventory.record_snapshot(account, REGION, GROUP, snap(new), at=now)  # refresh sees new

    assert inventory.prior_definition(change, "sgr-0c0ffee0c0ffee000") == rules.definition_of(old)
    row = InventoryRule.objects.get()
    assert row.definition["from_port"] == 3389
    assert InventoryRuleVersion.objects.count() == 2


def test_it_does_not_mistake_a_refresh_that_ran_before_the_change_arrived(account):
    """Changes can arrive late (trail reconciliation): a refresh already saw the new value."""
    now = timezone.now()
    old, new = ingress(22, "10.0.0.0/8"), ingress(3389)
    inventory.record_snapshot(account, REGION, GROUP, snap(old), at=now - timedelta(hours=3))
    inventory.record_snapshot(account, REGION, GROUP, snap(new), at=now - timedelta(hours=1))
    change = modify_at(account, now - timedelta(hours=2), new)  # made before that refresh
    inventory.seed_from_change(change)

    assert inventory.prior_definition(change, "sgr-0c0ffee0c0ffee000")["from_port"] == 22


def test_it_knows_nothing_about_a_rule_first_seen_after_the_change(account):
    now = timezone.now()
    change = modify_at(account, now - timedelta(minutes=5), ingress(3389))
    inventory.record_snapshot(account, REGION, GROUP, snap(ingress(3389)), at=now)

    assert inventory.prior_definition(change, "sgr-0c0ffee0c0ffee000") is None


def test_it_seeds_rules_from_authorize_records(account):
    when = timezone.now() - timedelta(hours=1)
    change = make_change(
        account,
        "AuthorizeSecurityGroupIngress",
        GROUP,
        [rule_json("added", ingress(22), "sgr-0c0ffee0c0ffee000")],
        event_time=when,
    )
    later = modify_at(account, timezone.now(), ingress(23))

    assert inventory.seed_from_change(change) == 1
    assert inventory.prior_definition(later, "sgr-0c0ffee0c0ffee000")["from_port"] == 22


def test_it_marks_rules_gone_from_a_describe_as_absent(account):
    now = timezone.now()
    inventory.record_snapshot(
        account, REGION, GROUP, snap(ingress(22)), at=now - timedelta(hours=1)
    )
    inventory.record_snapshot(account, REGION, GROUP, [], at=now)

    row = InventoryRule.objects.get()
    assert row.present is False
    assert row.definition["from_port"] == 22
