"""The policy package's beat entry, added to sgportal.schedules.PERIODIC_TASKS at startup."""

from __future__ import annotations

from sgportal.schedules import Periodic, register

SWEEP_DEADLINES = Periodic(
    "apply deadline outcomes, expire exceptions, post digests (approvals policy)",
    "approvals.policy.tasks.sweep_deadlines",
    "POLICY_SWEEP_INTERVAL_S",
)


def add_periodic_tasks() -> None:
    register(SWEEP_DEADLINES)
