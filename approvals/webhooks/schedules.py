"""Webhooks' beat entry, added to sgportal.schedules.PERIODIC_TASKS at startup."""

from __future__ import annotations

from sgportal.schedules import Periodic, register

RESUME_DELIVERIES = Periodic(
    "retry due webhook deliveries (webhooks)",
    "approvals.webhooks.tasks.resume_deliveries",
    "WEBHOOK_SWEEP_INTERVAL_S",
)


def add_periodic_tasks() -> None:
    register(RESUME_DELIVERIES)
