from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from approvals import metrics, receivers, schedules  # noqa: F401

        metrics.register()
        schedules.add_periodic_tasks()

        # Policies (issue 15): cache invalidation receivers, tasks, the deadline sweep.
        from approvals.policy import engine, tasks  # noqa: F401
        from approvals.policy import schedules as policy_schedules

        policy_schedules.add_periodic_tasks()
