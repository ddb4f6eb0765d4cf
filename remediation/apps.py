from django.apps import AppConfig


class RemediationConfig(AppConfig):
    name = "remediation"
    verbose_name = "Remediation"

    def ready(self) -> None:
        from remediation import metrics, receivers, schedules
        from sgportal import events

        events.change_decided.connect(
            receivers.on_change_decided, dispatch_uid="remediation.on_change_decided"
        )
        events.changes_ingested.connect(
            receivers.on_changes_ingested, dispatch_uid="remediation.on_changes_ingested"
        )
        metrics.register()
        schedules.add_periodic_tasks()
