"""Policy models: rules (first match wins), exceptions, reviewer groups, the tenant's policy
switches (emergency mode) and what the policy decided about each change (PolicyMatch).

Imported by ``approvals.models`` so Django registers them in the ``approvals`` app.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

from sgportal.tenancy import TenantScopedQuerySet


class RuleAction(models.TextChoices):
    REVIEW = "review", "Ask a reviewer"
    AUTO_APPROVE = "auto_approve", "Auto-approve"
    AUTO_REVERT = "auto_revert", "Auto-revert"
    NOTIFY = "notify", "Notify only (flag, no question)"


class DefaultOutcome(models.TextChoices):
    APPROVE = "approve", "Approve"
    REVERT = "revert", "Revert"
    ESCALATE = "escalate", "Escalate"


class Severity(models.IntegerChoices):
    UNRATED = 0, "unrated"
    LOW = 1, "low"
    MEDIUM = 2, "medium"
    HIGH = 3, "high"
    CRITICAL = 4, "critical"
    SPOKE_ROLE = 5, "critical (sgportal's revert role)"


class ReviewerGroup(models.Model):
    """People (and API tokens) allowed to decide the changes a rule routes to them."""

    tenant = models.ForeignKey(
        "sgportal.Tenant", on_delete=models.CASCADE, related_name="reviewer_groups"
    )
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="reviewer_groups"
    )
    api_tokens = models.ManyToManyField(
        "sgportal.ApiToken",
        blank=True,
        related_name="reviewer_groups",
        help_text="API tokens (scope decide) that may decide for this group.",
    )

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="uniq_reviewer_group_name")
        ]

    def __str__(self) -> str:
        return self.name


MATCH_HELP = (
    'JSON object, every key optional, all given keys must match: {"accounts": ["123456789012"], '
    '"regions": ["eu-*"], "vpcs": [], "group_ids": [], "group_names": ["prod-*"], '
    '"group_tags": {"env": "prod"}, "direction": "ingress", "protocols": ["tcp"], '
    '"ports": "22" or "1024-2048", "peer_cidrs": ["10.0.0.0/8"], "world": true, '
    '"prefix_lists": ["pl-*"], "group_refs": ["sg-*"], "actor_arns": ["arn:aws:iam::*:role/ci-*"], '
    '"actor_types": ["AssumedRole"], "tools": ["Terraform"], "via_spoke_role": true, '
    '"event_names": ["AuthorizeSecurityGroupIngress"], "sources": ["eventbridge"]}. '
    "Lists match any of their items; * and ? are wildcards."
)


class PolicyRule(models.Model):
    """One rule of a tenant's policy: what it matches and what happens then (first match wins)."""

    tenant = models.ForeignKey(
        "sgportal.Tenant", on_delete=models.CASCADE, related_name="policy_rules"
    )
    position = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    match = models.JSONField(default=dict, blank=True, help_text=MATCH_HELP)
    severity = models.PositiveSmallIntegerField(
        choices=Severity.choices, default=Severity.UNRATED, validators=[MaxValueValidator(5)]
    )
    action = models.CharField(max_length=20, choices=RuleAction.choices, default=RuleAction.REVIEW)
    slack_channel = models.CharField(
        max_length=32, blank=True, help_text="Channel id to ask in; empty: the tenant's channel."
    )
    reviewer_group = models.ForeignKey(
        ReviewerGroup,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rules",
        help_text="Only its members may decide; empty: any approver.",
    )
    deadline_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Review deadline; empty: none."
    )
    default_outcome = models.CharField(
        max_length=20, choices=DefaultOutcome.choices, default=DefaultOutcome.ESCALATE
    )
    escalation_channel = models.CharField(max_length=32, blank=True)
    escalation_group = models.ForeignKey(
        ReviewerGroup,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="escalation_rules",
        help_text="May also decide once the change is escalated.",
    )
    notify_limit = models.PositiveIntegerField(
        default=10, help_text="Individual Slack posts per window; the rest go in one digest."
    )
    notify_window_s = models.PositiveIntegerField(default=60)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="uniq_policy_rule_name")
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"

    def clean(self) -> None:
        from approvals.policy.matcher import MatchError, compile_match

        try:
            compile_match(self.match)
        except MatchError as exc:
            raise ValidationError({"match": str(exc)}) from None
        for field in ("reviewer_group", "escalation_group"):
            group = getattr(self, field)
            if group is not None and group.tenant_id != self.tenant_id:
                raise ValidationError({field: "A reviewer group of this rule's tenant."})


class PolicyException(models.Model):
    """An allow-list entry: matching changes are auto-approved until it expires; then what
    it approved comes back for review."""

    tenant = models.ForeignKey(
        "sgportal.Tenant", on_delete=models.CASCADE, related_name="policy_exceptions"
    )
    match = models.JSONField(default=dict, blank=True, help_text=MATCH_HELP)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner_name = models.CharField(max_length=300, blank=True)
    reason = models.TextField()
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    from_change = models.ForeignKey(
        "ingestion.SecurityGroupChange",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Set once by the sweep that sends what this exception approved back for review.
    expiry_handled_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "expires_at"]
        indexes = [
            models.Index(
                fields=["expires_at"],
                name="policy_exc_expiry_todo",
                condition=Q(expiry_handled_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        owner = self.owner_name or "no owner"
        return f"exception {self.pk} ({owner}, until {self.expires_at:%Y-%m-%d})"

    def clean(self) -> None:
        from approvals.policy.matcher import MatchError, compile_match

        try:
            compile_match(self.match)
        except MatchError as exc:
            raise ValidationError({"match": str(exc)}) from None
        if not self.match:
            raise ValidationError({"match": "An exception must match something specific."})


class TenantPolicy(models.Model):
    """A tenant's policy switches: emergency mode (with who and why), the escalation
    channel, and the version that tells every process its compiled rules are stale."""

    tenant = models.OneToOneField(
        "sgportal.Tenant", on_delete=models.CASCADE, related_name="policy_settings"
    )
    emergency = models.BooleanField(
        default=False, help_text="Auto-revert every change that opens access to the world."
    )
    emergency_reason = models.TextField(blank=True)
    emergency_by = models.CharField(max_length=300, blank=True, editable=False)
    emergency_since = models.DateTimeField(null=True, blank=True, editable=False)
    escalation_channel = models.CharField(max_length=32, blank=True)
    version = models.PositiveIntegerField(default=0, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "tenant policies"

    def __str__(self) -> str:
        return f"policy of {self.tenant}" + (" (EMERGENCY)" if self.emergency else "")

    def clean(self) -> None:
        if self.emergency and not self.emergency_reason.strip():
            raise ValidationError({"emergency_reason": "Say why emergency mode is on."})


class DeadlineStage(models.TextChoices):
    NONE = "none", "No deadline"
    WAITING = "waiting", "Waiting for the deadline"
    REMINDED = "reminded", "Reminded in the thread"
    ESCALATED = "escalated", "Escalated"
    DONE = "done", "Outcome applied"


class PolicyMatch(models.Model):
    """What the policy made of one change: the rule (or exception) that matched, severity,
    action, who may decide, and its deadline's progress."""

    change = models.OneToOneField(
        "ingestion.SecurityGroupChange",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="policy_match",
    )
    tenant = models.ForeignKey("sgportal.Tenant", on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(
        PolicyRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="matches"
    )
    exception = models.ForeignKey(
        PolicyException, null=True, blank=True, on_delete=models.SET_NULL, related_name="matches"
    )
    rule_name = models.CharField(max_length=120)
    severity = models.PositiveSmallIntegerField(default=0)
    action = models.CharField(max_length=20, choices=RuleAction.choices)
    slack_channel = models.CharField(max_length=32, blank=True)
    reviewer_group = models.ForeignKey(
        ReviewerGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    escalation_group = models.ForeignKey(
        ReviewerGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    escalation_channel = models.CharField(max_length=32, blank=True)
    deadline_minutes = models.PositiveIntegerField(null=True, blank=True)
    default_outcome = models.CharField(max_length=20, blank=True)
    # The next time the sweep must act (the deadline, then the escalation); null: nothing.
    due_at = models.DateTimeField(null=True, blank=True)
    stage = models.CharField(
        max_length=20, choices=DeadlineStage.choices, default=DeadlineStage.NONE
    )
    # Set by the sweep that claimed this row; a claim older than the lease is taken again.
    claimed_until = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            # (due_at, change): the sweep's keyset order, so each batch starts where the
            # last one ended.
            models.Index(
                fields=["due_at", "change"],
                name="policy_match_due_key",
                condition=Q(due_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"change {self.change_id}: {self.rule_name} ({self.action})"


class DigestStatus(models.TextChoices):
    OPEN = "open", "Collecting"
    POSTING = "posting", "Posting"
    POSTED = "posted", "Posted"
    FAILED = "failed", "Failed"


class NotificationDigest(models.Model):
    """One grouped Slack message for the changes a rule matched beyond its rate limit in
    one window (a Terraform apply of 500 changes: one post with the list)."""

    tenant = models.ForeignKey("sgportal.Tenant", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200, help_text="The rule (or built-in rule) it groups.")
    window_start = models.DateTimeField()
    channel = models.CharField(max_length=32, blank=True)
    change_ids = models.JSONField(default=list)
    status = models.CharField(
        max_length=20, choices=DigestStatus.choices, default=DigestStatus.OPEN
    )
    due_at = models.DateTimeField()
    ts = models.CharField(max_length=32, blank=True)
    last_error = models.TextField(blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "key", "window_start"], name="uniq_digest_window"
            )
        ]

    def __str__(self) -> str:
        return f"digest {self.key} {self.window_start:%H:%M} ({len(self.change_ids)} changes)"
