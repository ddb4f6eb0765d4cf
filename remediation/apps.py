from django.apps import AppConfig


class RemediationConfig(AppConfig):
    name = "remediation"
    verbose_name = "Remediation"

    def ready(self) -> None:
        from approvals.wording import register_rule_lookup
        from ingestion.store import register_own_call_check
        from remediation import inventory, metrics, ownership, receivers, schedules
        from sgportal import events

        # Messages show a revoked-by-id or modified rule as the inventory knew it.
        register_rule_lookup(inventory.prior_definition)
        # Spoke-role calls are ours only when they match one of our revert attempts.
        register_own_call_check(ownership.own_calls)

        events.change_decided.connect(
            receivers.on_change_decided, dispatch_uid="remediation.on_change_decided"
        )
        events.changes_ingested.connect(
            receivers.on_changes_ingested, dispatch_uid="remediation.on_changes_ingested"
        )
        metrics.register()
        schedules.add_periodic_tasks()
