from django.apps import AppConfig


class RemediationConfig(AppConfig):
    name = "remediation"
    verbose_name = "Remediation"

    def ready(self) -> None:
        from approvals.wording import register_rule_lookup
        from ingestion.store import register_own_call_check
        from remediation import inventory, metrics, ownership, receivers  # noqa: F401

        # Messages show a revoked-by-id or modified rule as the inventory knew it.
        register_rule_lookup(inventory.prior_definition)
        # Spoke-role calls are ours only when they match one of our revert attempts.
        register_own_call_check(ownership.own_calls)

        metrics.register()
