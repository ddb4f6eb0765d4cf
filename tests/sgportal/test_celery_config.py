"""The Celery app's delivery guarantees and the beat schedule stored in django-celery-beat."""

from __future__ import annotations

from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from sgportal.celery import app
from sgportal.settings import beat_entry
from tests.beat import entry, start_beat


def test_it_accepts_json_only():
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"
    assert list(app.conf.accept_content) == ["json"]


def test_it_acknowledges_late_and_requeues_on_a_lost_worker():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_the_visibility_timeout_exceeds_the_longest_task():
    assert app.conf.broker_transport_options["visibility_timeout"] > app.conf.task_time_limit


def test_beat_reads_its_schedule_from_the_database():
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"


def test_beat_start_creates_the_poll_schedule_from_the_environment(db, settings):
    start_beat()
    task = PeriodicTask.objects.get(task="ingestion.tasks.poll_all_tenants")
    assert task.interval.every == settings.SGPORTAL_POLL_INTERVAL_S
    assert task.expire_seconds == settings.SGPORTAL_POLL_INTERVAL_S


def test_a_new_interval_is_applied_but_the_enabled_flag_stays_the_operators(db, settings):
    start_beat()
    task = PeriodicTask.objects.get(task="ingestion.tasks.poll_all_tenants")
    task.enabled = False
    task.save()
    # A restart with SGPORTAL_POLL_INTERVAL_S=120 in the environment, and a migrate too.
    name, _ = entry("ingestion.tasks.poll_all_tenants")
    settings.SGPORTAL_POLL_INTERVAL_S = 120
    call_command("migrate", verbosity=0)
    start_beat({name: beat_entry("ingestion.tasks.poll_all_tenants", 120)})
    task.refresh_from_db()
    assert task.interval.every == 120
    assert task.expire_seconds == 120
    assert task.enabled is False
