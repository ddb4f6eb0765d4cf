"""Beat fan-out and the per-tenant Redis lock (real Redis from CELERY_BROKER_URL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import redis
import time_machine
from django.conf import settings
from django.db import connection

from ingestion import poller, tasks
from ingestion.locks import poll_lock_key, tenant_poll_lock
from ingestion.models import LakeSource, PollRun
from ingestion.models import SecurityGroupChange as Change
from ingestion.poller import poll_tenant_locked
from tests.factories import TenantFactory
from tests.ingestion.helpers import expect_query, record, results_page, stubbed_lake

NOW = datetime(2026, 9, 14, 11, 1, 0, tzinfo=UTC)


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.ping()  # the suite runs against a real Redis; fail loudly without one
    yield client
    client.close()


def test_it_fans_out_one_poll_per_active_lake_tenant(lake_tenant, other_tenant, monkeypatch):
    LakeSource.objects.create(tenant=TenantFactory(slug="sleepy", active=False), enabled=True)
    LakeSource.objects.create(tenant=other_tenant, enabled=False)
    sent = []
    monkeypatch.setattr(
        tasks.poll_tenant,
        "apply_async",
        lambda args, kwargs, expires: sent.append((args, expires)),
    )
    assert tasks.poll_all_tenants() == 1
    assert sent == [([lake_tenant.pk], settings.SGPORTAL_POLL_INTERVAL_S)]


def test_the_beat_entry_expires_and_names_the_fan_out_task(db):
    from django_celery_beat.models import PeriodicTask

    from tests.beat import start_beat

    start_beat()
    entry = PeriodicTask.objects.get(task="ingestion.tasks.poll_all_tenants")
    assert entry.interval.every == settings.SGPORTAL_POLL_INTERVAL_S
    assert entry.expire_seconds == settings.SGPORTAL_POLL_INTERVAL_S


def test_a_poll_of_a_gone_or_disabled_tenant_does_nothing(lake_tenant):
    LakeSource.objects.filter(tenant=lake_tenant).update(enabled=False)
    assert tasks.poll_tenant(lake_tenant.pk) == "gone"
    assert tasks.poll_tenant(987654) == "gone"
    assert PollRun.objects.count() == 0


def test_a_poll_skips_while_another_holds_the_tenant_lock(lake_tenant, redis_client, monkeypatch):
    lake, stubber, _ = stubbed_lake()
    expect_query(stubber, [results_page([record(1)])])
    monkeypatch.setattr(poller, "lake_client_for", lambda tenant, **kw: lake)
    with stubber, time_machine.travel(NOW, tick=False):
        with tenant_poll_lock(lake_tenant.pk) as held:
            assert held
            ttl_ms = redis_client.pttl(poll_lock_key(lake_tenant.pk))
            assert ttl_ms > settings.CELERY_TASK_TIME_LIMIT * 1000
            assert tasks.poll_tenant(lake_tenant.pk) == "skipped"
            assert PollRun.objects.count() == 0
            assert not LakeSource.objects.exclude(watermark=None).exists()
        assert redis_client.exists(poll_lock_key(lake_tenant.pk)) == 0
        assert tasks.poll_tenant(lake_tenant.pk) == "succeeded"
    assert PollRun.objects.count() == 1
    assert Change.objects.count() == 1


class BlockingLake:
    """Wraps a LakeClient: start() waits until the test lets it go."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def start(self, statement):
        self.entered.set()
        assert self.release.wait(30)
        return self.inner.start(statement)

    def wait(self, query_id):
        return self.inner.wait(query_id)

    def pages(self, query_id):
        return self.inner.pages(query_id)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_polls_of_one_tenant_run_once(lake_tenant, redis_client):
    lake, stubber, _ = stubbed_lake()
    expect_query(stubber, [results_page([record(1), record(3)])])
    blocking = BlockingLake(lake)
    outcomes = {}

    def first_poll():
        try:
            with time_machine.travel(NOW, tick=False):
                outcomes["first"] = poll_tenant_locked(lake_tenant.pk, lake=blocking)
        finally:
            connection.close()

    with stubber:
        thread = threading.Thread(target=first_poll)
        thread.start()
        try:
            assert blocking.entered.wait(30)  # the first poll holds the lock and is querying
            other, other_stub, _ = stubbed_lake()  # would fail on any call
            with other_stub:
                outcomes["second"] = poll_tenant_locked(lake_tenant.pk, lake=other)
        finally:
            blocking.release.set()
            thread.join(30)
    assert outcomes == {"first": "succeeded", "second": "skipped"}
    assert PollRun.objects.count() == 1
    assert Change.objects.count() == 2


def test_the_tasks_are_registered_under_their_names():
    from sgportal.celery import app

    app.loader.import_default_modules()
    assert {"ingestion.tasks.poll_all_tenants", "ingestion.tasks.poll_tenant"} <= set(app.tasks)


def test_a_run_left_running_by_a_dead_worker_is_closed_on_the_next_poll(
    lake_tenant, redis_client, monkeypatch
):
    dead = PollRun.objects.create(
        tenant=lake_tenant,
        window_start=datetime(2026, 9, 14, 10, 0, tzinfo=UTC),
        window_end=datetime(2026, 9, 14, 10, 59, tzinfo=UTC),
        started_at=datetime(2026, 9, 14, 10, 59, 30, tzinfo=UTC),
    )
    lake, stubber, _ = stubbed_lake()
    expect_query(stubber, [results_page([])])
    monkeypatch.setattr(poller, "lake_client_for", lambda tenant, **kw: lake)
    with stubber, time_machine.travel(NOW, tick=False):
        assert tasks.poll_tenant(lake_tenant.pk) == "succeeded"
    dead.refresh_from_db()
    assert dead.status == "failed"
    assert "abandoned" in dead.error
