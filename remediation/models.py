"""Revert attempts and the rule inventory.

Rule inventory and the ordering subtlety
----------------------------------------
A revoke by rule id and a ModifySecurityGroupRules carry only ids (and, for a modify, the
*new* values). Undoing them needs the rule's definition from *before* the change, but by
the time we ingest the change AWS already holds the new state, and a describe at ingest
time would return it. So the inventory never overwrites a definition: it keeps history.

- ``InventoryRule`` is one rule per (tenant, account, region, group, rule id) with its
  latest known definition and whether it still exists (``present``).
- ``InventoryRuleVersion`` is every distinct definition we have seen for that rule, with
  ``first_seen_at`` (when that definition came into effect, or when we first observed it)
  and ``last_seen_at``. Versions are appended, never rewritten.

Versions come from two sources: describes of the group (refresh after every ingested
change and after every revert; observed at "now") and the change records themselves
(an Authorize response lists the new rules with their ids, effective at the event time; a
Modify gives the new definition at the event time). The prior state for a change made at
time T is the latest version whose ``first_seen_at`` is strictly before T; a describe that
ran after T (and so saw the new values) is stamped after T and can never be mistaken for
the prior state, whatever order refreshes and changes arrive in.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from approvals.models import Decision
from ingestion.models import SecurityGroupChange
from sgportal.models import AwsAccount, Tenant
from sgportal.tenancy import TenantScopedQuerySet


class AttemptKind(models.TextChoices):
    REVERT = "revert", "Revert"
    UNDO = "undo", "Undo revert"


class AttemptStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Outcome(models.TextChoices):
    REVERTED = "reverted", "Reverted"
    AUTO_REVERTED = "auto_reverted", "Auto-reverted"
    REVERT_FAILED = "revert_failed", "Revert failed"
    DRY_RUN = "dry_run", "Dry run (nothing changed)"
    UNDONE = "undone", "Revert undone"
    UNDO_FAILED = "undo_failed", "Undo failed"


FAILED_OUTCOMES = (Outcome.REVERT_FAILED, Outcome.UNDO_FAILED)


class RevertAttempt(models.Model):
    """One try at reverting (or undoing the revert of) a change: plan, snapshots, result."""

    change = models.ForeignKey(
        SecurityGroupChange, on_delete=models.PROTECT, related_name="revert_attempts"
    )
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="revert_attempts"
    )
    kind = models.CharField(max_length=10, choices=AttemptKind.choices, default=AttemptKind.REVERT)
    status = models.CharField(
        max_length=10, choices=AttemptStatus.choices, default=AttemptStatus.RUNNING
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    actor_name = models.CharField(max_length=300, help_text="The deciding reviewer, or system.")
    dry_run = models.BooleanField(default=False)
    role_arn = models.CharField(max_length=600, blank=True)
    source_identity = models.CharField(max_length=64, blank=True)
    plan = models.JSONField(default=dict, blank=True, help_text="The EC2 calls, as planned.")
    before = models.JSONField(null=True, blank=True, help_text="The group's rules before acting.")
    after = models.JSONField(null=True, blank=True, help_text="The group's rules after acting.")
    calls = models.JSONField(default=list, blank=True, help_text="Each EC2 call and its result.")
    tries = models.PositiveIntegerField(default=0, help_text="Executions (retries, redeliveries).")
    error_code = models.CharField(max_length=100, blank=True)
    detail = models.TextField(blank=True)
    aws_request_id = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()
    tenant_path = "change__tenant"

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["change"],
                condition=Q(status="running"),
                name="one_running_attempt_per_change",
            ),
            models.UniqueConstraint(
                fields=["change"], condition=Q(kind="undo"), name="one_undo_attempt_per_change"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} of change {self.change_id}: {self.outcome or self.status}"


class InventoryRule(models.Model):
    """The latest known definition of one security-group rule in a member account."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="inventory_rules")
    account = models.ForeignKey(
        AwsAccount, on_delete=models.CASCADE, related_name="inventory_rules"
    )
    region = models.CharField(max_length=30)
    group_id = models.CharField(max_length=64)
    rule_id = models.CharField(max_length=64)
    definition = models.JSONField(
        help_text="Normalized rule definition (see ingestion.rules.definition_of)."
    )
    present = models.BooleanField(default=True, help_text="Seen in the group's last describe.")
    refreshed_at = models.DateTimeField()

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["account", "region", "group_id", "rule_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "account", "region", "group_id", "rule_id"],
                name="uniq_inventory_rule",
            )
        ]
        indexes = [
            models.Index(fields=["account", "region", "group_id"], name="inventory_group"),
        ]

    def __str__(self) -> str:
        return f"{self.group_id}/{self.rule_id}"


class InventoryRuleVersion(models.Model):
    """One definition a rule has had, from when it took effect (or was first seen)."""

    rule = models.ForeignKey(InventoryRule, on_delete=models.CASCADE, related_name="versions")
    definition = models.JSONField()
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    origin = models.CharField(max_length=20, help_text="describe, or the change's event name.")

    objects = TenantScopedQuerySet.as_manager()
    tenant_path = "rule__tenant"

    class Meta:
        ordering = ["rule", "first_seen_at", "id"]
        indexes = [models.Index(fields=["rule", "first_seen_at"], name="inventory_version_time")]

    def __str__(self) -> str:
        return f"{self.rule} since {self.first_seen_at:%Y-%m-%d %H:%M:%S}"
