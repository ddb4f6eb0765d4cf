"""A tenant's webhook endpoints and every delivery to them (one row per event and endpoint)."""

from __future__ import annotations

from django.db import models

from sgportal.fields import EncryptedTextField
from sgportal.models import Tenant
from sgportal.tenancy import TenantScopedQuerySet


class EventType(models.TextChoices):
    CHANGE_CREATED = "change.created", "Change created"
    CHANGE_DECIDED = "change.decided", "Change decided"
    REVERT_FINISHED = "revert.finished", "Revert finished"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending (due at next attempt)"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class Webhook(models.Model):
    """An HTTPS endpoint of a tenant that receives the events it asked for, signed."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="Event types this endpoint receives.")
    secret = EncryptedTextField(editable=False, help_text="HMAC key; shown once on creation.")
    # After a rotation the old secret also signs deliveries until ``previous_secret_until``,
    # so a receiver can switch without refusing anything.
    previous_secret = EncryptedTextField(blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="one_webhook_name_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    def signing_secrets(self, now) -> list[str]:
        """The secrets that sign a delivery now: the current one, then the previous one
        while its overlap lasts."""
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            secrets.append(self.previous_secret)
        return secrets


class WebhookDelivery(models.Model):
    """One event for one webhook: its attempts, last error and next try (at least once)."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(help_text="Idempotency key: the same for every attempt.")
    event_type = models.CharField(max_length=30, choices=EventType.choices)
    context = models.JSONField(default=dict, help_text="Ids the payload is built from.")
    payload = models.JSONField(null=True, blank=True, help_text="Built at the first attempt.")
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()
    tenant_path = "webhook__tenant"

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_id"], name="one_delivery_per_event")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} -> {self.webhook_id}: {self.status}"
