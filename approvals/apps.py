from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from approvals import metrics, receivers  # noqa: F401
        from approvals.rating import rate_at_ingest
        from ingestion.store import register_severity_rater

        metrics.register()
        register_severity_rater(rate_at_ingest)
        # Policies (issue 15): cache invalidation receivers and tasks; the deadline sweep is
        # in CELERY_BEAT_SCHEDULE.
        from approvals.policy import engine, tasks  # noqa: F401
