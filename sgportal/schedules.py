"""Periodic tasks, kept in django-celery-beat's tables so operators see and edit them in admin.

Each app lists its schedules in ``PERIODIC_TASKS`` (name -> task, interval setting); after
every migrate, missing entries are created and intervals follow the environment. Whether an
entry is enabled stays the operator's choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Periodic:
    name: str
    task: str
    every_setting: str  # name of a settings attribute holding seconds
    expires_factor: float = 1.0  # a tick not picked up within factor x interval is dropped


PERIODIC_TASKS: list[Periodic] = [
    Periodic(
        "poll CloudTrail Lake (all tenants)",
        "ingestion.tasks.poll_all_tenants",
        "SGPORTAL_POLL_INTERVAL_S",
    ),
    Periodic(
        "write signed audit checkpoints (all tenants)",
        "sgportal.tasks.audit_checkpoint",
        "AUDIT_CHECKPOINT_INTERVAL_S",
    ),
]


def register(spec: Periodic) -> None:
    """Add an app's beat entry (from its AppConfig.ready; twice is harmless)."""
    if all(existing.task != spec.task for existing in PERIODIC_TASKS):
        PERIODIC_TASKS.append(spec)


def ensure_periodic_tasks(using: str = "default") -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    for spec in PERIODIC_TASKS:
        seconds = int(getattr(settings, spec.every_setting))
        interval, _ = IntervalSchedule.objects.using(using).get_or_create(
            every=seconds, period=IntervalSchedule.SECONDS
        )
        task, created = PeriodicTask.objects.using(using).get_or_create(
            name=spec.name,
            defaults={
                "task": spec.task,
                "interval": interval,
                "expire_seconds": max(1, int(seconds * spec.expires_factor)),
            },
        )
        if not created and (task.interval_id != interval.pk or task.task != spec.task):
            task.interval = interval
            task.task = spec.task
            task.expire_seconds = max(1, int(seconds * spec.expires_factor))
            task.save(update_fields=["interval", "task", "expire_seconds"])
