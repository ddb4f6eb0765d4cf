from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outbound webhooks per tenant: changes, decisions and revert outcomes pushed, signed."""

    name = "approvals.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from approvals.webhooks import metrics, receivers  # noqa: F401

        metrics.register()
