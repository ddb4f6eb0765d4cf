"""Remediation's beat entries, added to sgportal.schedules.PERIODIC_TASKS at startup."""

from __future__ import annotations

from sgportal.schedules import Periodic, register

RESUME_STALE = Periodic(
    "resume lost reverts (remediation)",
    "remediation.tasks.resume_stale_attempts",
    "REMEDIATION_SWEEP_INTERVAL_S",
)


def add_periodic_tasks() -> None:
    register(RESUME_STALE)
