from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from approvals import metrics, receivers, schedules  # noqa: F401
        from approvals.rating import rate_at_ingest
        from ingestion.store import register_severity_rater

        metrics.register()
        register_severity_rater(rate_at_ingest)
        schedules.add_periodic_tasks()
