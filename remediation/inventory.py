"""Keeping the rule inventory (see remediation.models for why it keeps history).

- ``observe`` records one definition of one rule at a time, appending a version when it
  differs from the version in effect at that time; it never rewrites an older version.
- ``record_snapshot`` applies a whole-group describe taken now (and marks rules that
  disappeared as not present).
- ``seed_from_change`` records what a change's own record says (Authorize responses list
  the new rules and their ids; a Modify gives the new values), effective at the event time.
- ``prior_definition`` is the definition a rule had just before a change.
- ``refresh_groups`` seeds from changes and then describes each group they touch.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from ingestion import rules
from ingestion.models import SEEDING_EVENTS, EventName, SecurityGroupChange
from remediation import aws, executor
from remediation.errors import PermanentAwsError
from remediation.models import InventoryRule, InventoryRuleVersion
from sgportal.models import AwsAccount

logger = logging.getLogger("remediation")


def _rule_row(
    account: AwsAccount, region: str, group_id: str, rule_id: str, definition: dict, at: datetime
) -> InventoryRule:
    lookup = {
        "tenant_id": account.tenant_id,
        "account": account,
        "region": region,
        "group_id": group_id,
        "rule_id": rule_id,
    }
    row = InventoryRule.objects.select_for_update().filter(**lookup).first()
    if row is None:
        try:
            with transaction.atomic():
                row = InventoryRule.objects.create(**lookup, definition=definition, refreshed_at=at)
        except IntegrityError:  # a concurrent refresh created it
            row = InventoryRule.objects.select_for_update().get(**lookup)
    return row


@transaction.atomic
def observe(
    account: AwsAccount,
    region: str,
    group_id: str,
    rule_id: str,
    definition: dict,
    at: datetime,
    *,
    origin: str = "describe",
    present: bool | None = None,
) -> InventoryRule:
    """Record that ``rule_id`` had ``definition`` at ``at``."""
    definition = rules.definition_of(definition)
    row = _rule_row(account, region, group_id, rule_id, definition, at)
    versions = list(row.versions.order_by("first_seen_at", "id"))
    in_effect = None
    for version in versions:
        if version.first_seen_at <= at:
            in_effect = version
    if in_effect is not None and rules.same_definition(in_effect.definition, definition):
        if at > in_effect.last_seen_at:
            in_effect.last_seen_at = at
            in_effect.save(update_fields=["last_seen_at"])
    else:
        InventoryRuleVersion.objects.create(
            rule=row, definition=definition, first_seen_at=at, last_seen_at=at, origin=origin
        )
    latest = row.versions.order_by("-first_seen_at", "-id").first()
    row.definition = latest.definition
    if present is not None and at >= row.refreshed_at:
        row.present = present
    row.refreshed_at = max(at, row.refreshed_at)
    row.save(update_fields=["definition", "refreshed_at", "present"])
    return row


def record_snapshot(
    account: AwsAccount,
    region: str,
    group_id: str,
    snapshot: list[dict],
    at: datetime | None = None,
) -> int:
    """Apply a describe of the whole group taken at ``at`` (now); returns the rules seen.

    Rules whose definition is unchanged are confirmed in bulk (a few queries per group);
    only new or changed rules go through ``observe``.
    """
    at = at or timezone.now()
    group = InventoryRule.objects.filter(account=account, region=region, group_id=group_id)
    rows = {row.rule_id: row for row in group}
    unchanged = []
    for entry in snapshot:
        row = rows.get(entry["rule_id"])
        definition = rules.definition_of(entry["definition"])
        if row and row.refreshed_at <= at and rules.same_definition(row.definition, definition):
            unchanged.append(row.pk)
        else:
            observe(account, region, group_id, entry["rule_id"], definition, at, present=True)
    if unchanged:
        InventoryRule.objects.filter(pk__in=unchanged).update(present=True, refreshed_at=at)
        latest: dict[int, InventoryRuleVersion] = {}
        for version in InventoryRuleVersion.objects.filter(rule_id__in=unchanged).order_by(
            "first_seen_at", "id"
        ):
            latest[version.rule_id] = version
        InventoryRuleVersion.objects.filter(
            pk__in=[v.pk for v in latest.values()], last_seen_at__lt=at
        ).update(last_seen_at=at)
    seen = {entry["rule_id"] for entry in snapshot}
    group.filter(refreshed_at__lte=at).exclude(rule_id__in=seen).update(
        present=False, refreshed_at=at
    )
    return len(seen)


def seed_from_change(change: SecurityGroupChange) -> int:
    """Record the rule definitions a change's own record proves, at its event time."""
    action = SEEDING_EVENTS.get(change.event_name)
    if not action or change.error_code or not change.account_id or not change.group_id:
        return 0
    at = change.event_time or change.ingested_at
    count = 0
    for rule in change.rules:
        definition = rules.definition_of(rule)
        if rule.get("action") != action or not rule.get("rule_id"):
            continue
        if not rules.is_complete(definition):
            continue
        observe(
            change.account,
            change.region,
            change.group_id,
            rule["rule_id"],
            definition,
            at,
            origin=change.event_name[:20],
        )
        count += 1
    return count


def prior_definition(change: SecurityGroupChange, rule_id: str) -> dict | None:
    """The definition ``rule_id`` had just before ``change`` took effect, if we know it."""
    at = change.event_time or change.ingested_at
    version = (
        InventoryRuleVersion.objects.filter(
            rule__tenant_id=change.tenant_id,
            rule__account_id=change.account_id,
            rule__region=change.region,
            rule__group_id=change.group_id,
            rule__rule_id=rule_id,
            first_seen_at__lt=at,
        )
        .order_by("-first_seen_at", "-id")
        .first()
    )
    return version.definition if version else None


def refresh_groups(change_ids: list[int]) -> int:
    """Seed the inventory from the changes' records, then describe each group they touch."""
    changes = list(
        SecurityGroupChange.objects.filter(pk__in=change_ids, account__isnull=False)
        .exclude(group_id="")
        .select_related("tenant", "account")
    )
    groups = {}
    for change in changes:
        seed_from_change(change)
        if change.account.spoke_role_arn and change.event_name != EventName.DELETE_GROUP:
            groups[(change.account_id, change.region, change.group_id)] = change
    refreshed = 0
    for (_account_pk, region, group_id), change in groups.items():
        account = change.account
        try:
            ec2 = aws.ec2_client(
                change.tenant,
                account,
                region,
                source_identity="sgportal-inventory",
                session_name="sgportal-inventory",
            )
            snapshot = executor.describe_group(
                ec2, group_id, role_arn=account.spoke_role_arn, account_id=account.account_id
            )
        except PermanentAwsError as exc:
            logger.warning(
                "inventory refresh of %s/%s/%s skipped: %s", account, region, group_id, exc
            )
            continue
        record_snapshot(account, region, group_id, snapshot)
        refreshed += 1
    return refreshed
