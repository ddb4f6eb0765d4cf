"""Decisions on changes: one approve/deny per change, from any door (slack, web, api, policy)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ingestion.models import SecurityGroupChange
from sgportal.tenancy import TenantScopedQuerySet


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
