"""Decisions on changes: one approve/deny per change, from any door (slack, web, api, policy)."""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q

from ingestion.models import SecurityGroupChange
from sgportal.audit import record_audit
from sgportal.fields import EncryptedTextField
from sgportal.models import AuditAction, Tenant
from sgportal.tenancy import TenantScopedQuerySet

log = logging.getLogger(__name__)


class Verdict(models.TextChoices):
    APPROVE = "approve", "Approve"
    DENY = "deny", "Deny"
    UNDO_REVERT = "undo_revert", "Undo revert"


class Via(models.TextChoices):
    SLACK = "slack", "Slack"
    WEB = "web", "Web"
    API = "api", "API"
    POLICY = "policy", "Policy"


class Decision(models.Model):
    """Who decided what about a change, through which door, and why."""

    change = models.ForeignKey(
        SecurityGroupChange, on_delete=models.PROTECT, related_name="decisions"
    )
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    via = models.CharField(max_length=20, choices=Via.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="decisions",
    )
    actor_name = models.CharField(max_length=300)
    reason = models.TextField(blank=True)
    decided_at = models.DateTimeField()

    objects = TenantScopedQuerySet.as_manager()
    tenant_path = "change__tenant"

    class Meta:
        ordering = ["decided_at"]
        constraints = [
            # One approve/deny per change; at most one undo of its revert.
            models.UniqueConstraint(
                fields=["change"],
                condition=Q(verdict__in=["approve", "deny"]),
                name="one_verdict_per_change",
            ),
            models.UniqueConstraint(
                fields=["change"], condition=Q(verdict="undo_revert"), name="one_undo_per_change"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} by {self.actor_name} via {self.via}"


class SlackStatus(models.TextChoices):
    UNCONFIGURED = "unconfigured", "Not configured"
    OK = "ok", "OK"
    BROKEN = "broken", "Broken (see error)"


class SlackWorkspace(models.Model):
    """A tenant's Slack: the workspace its bot token belongs to, the channel, and whether
    posting works. ``mark_broken`` and ``mark_ok`` are the only ways the status moves."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="slack_workspace")
    # The workspace the bot token belongs to, as Slack's auth.test reports it: never typed.
    # A Slack click names only its workspace, so one workspace maps to one tenant.
    team_id = models.CharField(max_length=32, blank=True, editable=False)
    channel_id = models.CharField(max_length=32, blank=True)
    bot_token = EncryptedTextField(blank=True)
    status = models.CharField(
        max_length=20, choices=SlackStatus.choices, default=SlackStatus.UNCONFIGURED, editable=False
    )
    error = models.TextField(blank=True, editable=False)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "Slack workspace"
        constraints = [
            models.UniqueConstraint(
                fields=["team_id"],
                condition=~Q(team_id=""),
                name="uniq_slack_workspace_team",
                violation_error_message="Another tenant already uses this Slack workspace.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant}: Slack {self.team_id or '-'} ({self.status})"

    @classmethod
    def of(cls, tenant: Tenant) -> SlackWorkspace:
        """The tenant's workspace, or an unsaved empty one (Slack not configured)."""
        try:
            return tenant.slack_workspace
        except cls.DoesNotExist:
            return cls(tenant=tenant)

    @property
    def configured(self) -> bool:
        return bool(self.bot_token and self.channel_id and self.team_id)

    def why_unusable(self) -> str | None:
        """Why Slack cannot be used now, or None when it can."""
        if not (self.bot_token and self.channel_id):
            return "Slack is not configured for this tenant (bot token and channel)."
        if self.status == SlackStatus.BROKEN:
            return f"Slack settings are broken: {self.error}"
        return None

    def mark_broken(self, error: str) -> bool:
        """Slack refused the settings (token, channel): flag them broken, audited, once per
        breakage. Posting stops until ``mark_ok`` (an admin saves working settings)."""
        if not self.pk:
            return False
        with transaction.atomic():
            locked = SlackWorkspace.objects.select_for_update().get(pk=self.pk)
            if locked.status == SlackStatus.BROKEN and locked.error == error:
                return False
            before = {"status": locked.status, "error": locked.error}
            SlackWorkspace.objects.filter(pk=self.pk).update(status=SlackStatus.BROKEN, error=error)
            record_audit(
                self.tenant_id,
                AuditAction.UPDATE,
                actor="slack notifier",
                via="system",
                obj=locked,
                before=before,
                after={"status": SlackStatus.BROKEN, "error": error},
            )
        self.status, self.error = SlackStatus.BROKEN, error
        log.warning("Slack settings of tenant %s marked broken: %s", self.tenant_id, error)
        return True

    def mark_ok(self, *, first_post: bool = False) -> bool:
        """The settings work. After an admin saved them (the default): "ok" when complete,
        else "unconfigured", and any "broken" is cleared. After a successful post
        (``first_post``): only "unconfigured" moves to "ok" (a breakage found meanwhile
        stands until an admin fixes it)."""
        if not self.pk:
            return False
        if first_post:
            rows = SlackWorkspace.objects.filter(pk=self.pk, status=SlackStatus.UNCONFIGURED)
            moved = rows.update(status=SlackStatus.OK)
            if moved:
                self.status = SlackStatus.OK
            return bool(moved)
        status = SlackStatus.OK if self.configured else SlackStatus.UNCONFIGURED
        SlackWorkspace.objects.filter(pk=self.pk).update(status=status, error="")
        self.status, self.error = status, ""
        return True


class SlackMessageStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be posted"
    POSTED = "posted", "Posted"
    FAILED = "failed", "Failed (permanent error)"
    SKIPPED = "skipped", "Skipped (Slack not configured or broken)"


def new_action_token() -> str:
    return secrets.token_urlsafe(24)


class SlackMessage(models.Model):
    """The Slack message that asks about one change, and the opaque id its buttons carry."""

    change = models.OneToOneField(
        SecurityGroupChange, on_delete=models.CASCADE, related_name="slack_message"
    )
    channel = models.CharField(max_length=32, blank=True)
    ts = models.CharField(max_length=32, blank=True, help_text="Slack message timestamp (its id).")
    # The only thing a button carries: random, unguessable, meaningless outside this row.
    action_token = models.CharField(max_length=64, unique=True, default=new_action_token)
    status = models.CharField(
        max_length=20, choices=SlackMessageStatus.choices, default=SlackMessageStatus.PENDING
    )
    last_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # When the post's task is due to run (set at every hand-off to the broker): a post still
    # pending well after it was due lost its task, and the notification sweep queues it again.
    due_at = models.DateTimeField(null=True, blank=True)
    # Set while a worker posts, so that a second copy of the task cannot post at once.
    leased_until = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()
    tenant_path = "change__tenant"

    def __str__(self) -> str:
        return f"Slack message for change {self.change_id} ({self.status})"


class SlackLinkNonce(models.Model):
    """A one-time link that lets a Slack user prove they are a given portal user."""

    nonce = models.CharField(max_length=64, unique=True, default=new_action_token)
    tenant = models.ForeignKey(
        "sgportal.Tenant", on_delete=models.CASCADE, related_name="slack_link_nonces"
    )
    team_id = models.CharField(max_length=32)
    slack_user_id = models.CharField(max_length=32)
    slack_username = models.CharField(
        max_length=100, blank=True, help_text="As Slack sent it; shown on the confirmation page."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TenantScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"link {self.team_id}/{self.slack_user_id} ({'used' if self.used_at else 'open'})"


# --- policies (issue 15): defined in approvals.policy.models, registered here ----------
from approvals.policy.models import (  # noqa: E402
    NotificationDigest,
    PolicyException,
    PolicyMatch,
    PolicyRule,
    ReviewerGroup,
    TenantPolicy,
)

__all__ = [
    "Decision",
    "NotificationDigest",
    "PolicyException",
    "PolicyMatch",
    "PolicyRule",
    "ReviewerGroup",
    "SlackLinkNonce",
    "SlackMessage",
    "TenantPolicy",
    "Verdict",
    "Via",
]
