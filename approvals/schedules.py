"""Approvals' beat entries, added to sgportal.schedules.PERIODIC_TASKS at startup."""

from __future__ import annotations

from sgportal.schedules import Periodic, register

RESUME_NOTIFICATIONS = Periodic(
    "send lost or skipped Slack notifications (approvals)",
    "approvals.tasks.resume_notifications",
    "NOTIFY_SWEEP_INTERVAL_S",
)


def add_periodic_tasks() -> None:
    register(RESUME_NOTIFICATIONS)
