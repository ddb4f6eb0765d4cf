"""sgportal.publish: a web request never waits on the broker; elsewhere, publishes are
synchronous and their errors reach the caller."""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

import pytest
from kombu.exceptions import OperationalError

from sgportal import publish


class FakeTask:
    """Stands for a Celery task: records apply_async calls, can block or fail first."""

    name = "tests.fake"

    def __init__(self, *, failures: int = 0, gate: threading.Event | None = None):
        self.app = SimpleNamespace(conf=SimpleNamespace(task_always_eager=False))
        self.calls: list[tuple] = []
        self.failures = failures
        self.gate = gate

    def apply_async(self, args=None, kwargs=None, **options):
        if self.gate is not None:
            self.gate.wait(timeout=10)
        if self.failures:
            self.failures -= 1
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.calls.append((args, kwargs, options))


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch):
    monkeypatch.setattr(publish, "PATIENCE_S", 2.0)
    yield
    assert publish.flush(10)


def test_outside_a_request_it_publishes_at_once_and_raises():
    task = FakeTask()
    publish.enqueue(task, [1, 2], queue="remediation")
    assert task.calls == [([1, 2], {}, {"queue": "remediation"})]
    failing = FakeTask(failures=1)
    with pytest.raises(OperationalError):
        publish.enqueue(failing, [1])


def test_in_a_request_it_returns_while_the_broker_hangs():
    gate = threading.Event()  # the broker accepts the connection but does not answer
    task = FakeTask(gate=gate)
    with publish.in_background():
        publish.enqueue(task, [7])  # returns although apply_async is blocked
    assert task.calls == []
    assert not publish.flush(0.2)  # still waiting on the broker
    gate.set()
    assert publish.flush(5)
    assert task.calls == [([7], {}, {"retry": False})]


def test_in_a_request_a_refused_publish_is_retried_then_sent():
    task = FakeTask(failures=2)
    with publish.in_background():
        publish.enqueue(task, [1], countdown=3)
    assert publish.flush(5)
    assert task.calls == [([1], {}, {"retry": False, "countdown": 3})]


def test_a_publish_that_never_gets_through_is_logged_as_lost(caplog):
    task = FakeTask(failures=1000)
    with caplog.at_level(logging.ERROR, logger="sgportal.publish"), publish.in_background():
        publish.enqueue(task, [42])
        assert publish.flush(10)
    assert task.calls == []
    [lost] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "SGPORTAL_PUBLISH_LOST tests.fake(42,)" in lost.getMessage()
    assert "Connection refused" in lost.getMessage()


def test_eager_tasks_run_inline_even_in_a_request():
    task = FakeTask()
    task.app.conf.task_always_eager = True
    with publish.in_background():
        publish.enqueue(task, [1])
    assert task.calls == [([1], {}, {})]


def test_every_web_request_publishes_in_the_background(client, db, monkeypatch):
    seen = []
    monkeypatch.setattr(
        "sgportal.views._check_database", lambda: seen.append(publish._background.get()) or None
    )
    client.get("/healthz")
    assert seen == [True]
    assert publish._background.get() is False


def test_it_enqueues_a_task_by_its_name(celery_eager):
    """Callers name a later stage's task instead of importing its tasks module."""
    from sgportal.celery import app

    assert (
        publish.task_named("approvals.tasks.send_ephemeral")
        is app.tasks["approvals.tasks.send_ephemeral"]
    )
    assert publish.enqueue("approvals.tasks.send_ephemeral", ["https://evil.example/", "x"]) is None
    with pytest.raises(KeyError):
        publish.task_named("approvals.tasks.no_such_task")


def test_concurrent_first_uses_of_a_task_name_all_find_it(monkeypatch):
    """Celery's autodiscovery imports once: threads arriving while the first one imports
    must wait for it, not find the task missing."""
    import time

    from sgportal.celery import app

    name = "approvals.tasks.apply_policy"
    task = publish.task_named(name)
    monkeypatch.delitem(app.tasks, name)
    imported = []

    def import_default_modules():
        if imported:  # what Celery does once discovery has run: nothing
            return
        imported.append(True)
        time.sleep(0.3)  # the first thread is still importing...
        app.tasks[name] = task

    monkeypatch.setattr(app.loader, "import_default_modules", import_default_modules)
    found, barrier = [], threading.Barrier(6)

    def use() -> None:
        barrier.wait()
        try:
            found.append(publish.task_named(name))
        except KeyError as exc:
            found.append(exc)

    threads = [threading.Thread(target=use) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [task] * 6
