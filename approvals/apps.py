from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from approvals import metrics, receivers  # noqa: F401

        metrics.register()
        # Policies (issue 15): cache invalidation receivers and tasks; the deadline sweep is
        # in CELERY_BEAT_SCHEDULE.
        from approvals.policy import engine, tasks  # noqa: F401
