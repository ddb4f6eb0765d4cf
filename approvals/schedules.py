"""Approvals' beat entries, added to sgportal.schedules.PERIODIC_TASKS at startup."""

from __future__ import annotations

from sgportal.schedules import PERIODIC_TASKS, Periodic

RESUME_NOTIFICATIONS = Periodic(
    "send lost or skipped Slack notifications (approvals)",
    "approvals.tasks.resume_notifications",
    "NOTIFY_SWEEP_INTERVAL_S",
)


def add_periodic_tasks() -> None:
    if all(spec.task != RESUME_NOTIFICATIONS.task for spec in PERIODIC_TASKS):
        PERIODIC_TASKS.append(RESUME_NOTIFICATIONS)
