"""What beat does with the schedule when it starts: django-celery-beat's DatabaseScheduler
writes ``CELERY_BEAT_SCHEDULE`` into its tables."""

from __future__ import annotations

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry

from sgportal.celery import app


def start_beat(schedule: dict | None = None) -> None:
    """Write ``schedule`` (default: the Celery app's, i.e. ``CELERY_BEAT_SCHEDULE``) into the
    tables as a beat start does: ``DatabaseScheduler.setup_schedule`` -> ``update_from_dict``
    -> ``ModelEntry.from_entry`` per entry (the rest of a start is in memory)."""
    assert DatabaseScheduler.Entry is ModelEntry
    for name, fields in (app.conf.beat_schedule if schedule is None else schedule).items():
        ModelEntry.from_entry(name, app=app, **fields)


def entry(task: str) -> tuple[str, dict]:
    """The (name, entry) of ``task`` in ``CELERY_BEAT_SCHEDULE``."""
    return next((n, e) for n, e in settings.CELERY_BEAT_SCHEDULE.items() if e["task"] == task)
