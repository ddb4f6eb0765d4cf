"""Webhooks in admin, tenant-scoped: endpoints (secret shown once on creation) and their
deliveries, read-only, with failures and a "retry now" action."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from approvals.webhooks import actions
from approvals.webhooks.models import DeliveryStatus, EventType, Webhook, WebhookDelivery
from sgportal import publish
from sgportal.admin_base import ReadOnlyTenantAdmin, TenantScopedAdmin


class WebhookForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Webhook
        fields = ["tenant", "name", "url", "events", "active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        error = actions.destination_error(url)
        if error:
            raise forms.ValidationError(error)
        return url


@admin.register(Webhook)
class WebhookAdmin(TenantScopedAdmin):
    """Endpoints of the admin's tenants; the signing secret is generated and shown once."""

    form = WebhookForm
    list_display = ["name", "tenant", "url", "events", "active", "created_at"]
    list_filter = ["active"]
    actions = ["rotate_secret"]

    @admin.action(description="Rotate the signing secret (the old one signs too for 24 h)")
    def rotate_secret(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, "Rotate one webhook at a time (its new secret is shown once).", "error"
            )
            return None
        webhook = queryset.get()
        secret = actions.rotate_secret(webhook, actor=request.user, via="admin")
        webhook.refresh_from_db()
        return self._secret_page(request, webhook, secret, rotated=True)

    def _secret_page(self, request, webhook, secret, *, rotated: bool):
        response = TemplateResponse(
            request,
            "admin/webhooks/webhook/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "webhook": webhook,
                "secret": secret,
                "rotated": rotated,
                "title": "Signing secret rotated" if rotated else "Webhook created",
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    def get_fields(self, request, obj=None):
        return (
            ["tenant", "name", "url", "events"]
            if obj is None
            else ["name", "url", "events", "active"]
        )

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        webhook, secret = actions.create_webhook(
            form.cleaned_data["tenant"],
            name=form.cleaned_data["name"],
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            actor=request.user,
            via="admin",
        )
        obj.pk, obj._state.adding, obj._secret = webhook.pk, False, secret
        obj.events, obj.created_at = webhook.events, webhook.created_at

    def save_related(self, request, form, formsets, change) -> None:
        """Nothing related."""

    def log_addition(self, request, obj, message):
        return None  # the audit chain has the creation

    def response_add(self, request, obj, post_url_continue=None):
        return self._secret_page(request, obj, obj._secret, rotated=False)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyTenantAdmin):
    """Every delivery: status, attempts, the endpoint's last answer, the next try."""

    list_display = [
        "event_type",
        "event_id",
        "webhook",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event_type"]
    actions = ["retry_now"]

    @admin.action(description="Retry the selected deliveries now")
    def retry_now(self, request, queryset) -> None:
        retry = queryset.exclude(status=DeliveryStatus.DELIVERED).exclude(
            status=DeliveryStatus.SENDING
        )
        webhook_ids = set(retry.values_list("webhook_id", flat=True))
        count = retry.update(status=DeliveryStatus.PENDING, next_attempt_at=timezone.now())
        from approvals.webhooks import tasks

        for webhook_id in webhook_ids:
            publish.enqueue(tasks.deliver_due, [webhook_id])
        self.message_user(request, f"{count} deliveries queued.")
