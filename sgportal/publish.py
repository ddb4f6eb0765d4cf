"""Handing tasks to the broker without making a web request wait on it.

A web request must answer whatever the broker does: Slack gives a click 3 seconds. Measured
before this module existed, with a decision already committed: Redis refusing connections
made the click answer 500, and Redis accepting connections without answering made it hang
for more than 30 seconds.

``enqueue`` is the one way the apps hand a task to the broker:

- inside a web request (``PublishInBackgroundMiddleware``), the publish goes to a background
  thread of the process and ``enqueue`` returns at once. The thread keeps trying for
  ``PATIENCE_S``, then logs the loss (``SGPORTAL_PUBLISH_LOST``);
- elsewhere (workers, beat, commands, eager tests) it publishes at once and raises on
  failure, as ``apply_async`` does.

What a lost publish leaves undone is repaired by the beat sweeps: reverts by
``remediation.tasks.resume_stale_attempts``, Slack posts and updates by
``approvals.tasks.resume_notifications``. The broker connection itself has socket timeouts
(``CELERY_BROKER_TRANSPORT_OPTIONS``), so no publish waits forever.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

log = logging.getLogger(__name__)

# How long the background thread keeps trying one publish before logging it as lost.
PATIENCE_S = 60.0
# How long a process exiting normally waits for its queued publishes.
SHUTDOWN_WAIT_S = 5.0

_background: ContextVar[bool] = ContextVar("sgportal_publish_in_background", default=False)


@contextmanager
def in_background() -> Iterator[None]:
    """Within this block, ``enqueue`` does not wait for the broker."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


class PublishInBackgroundMiddleware:
    """Every web request publishes through the background thread (see the module doc)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with in_background():
            return self.get_response(request)


_IMPORT_TASKS = threading.Lock()


def task_named(name: str) -> Any:
    """The registered task called ``name`` (importing the apps' task modules on first use),
    so callers name a task instead of importing a later stage's tasks module.

    Celery's autodiscovery runs once: a second thread asking while the first one is still
    importing would find the import "done" and the task missing (seen in gunicorn's
    threads on the first burst of EventBridge requests), so the first use is serialized."""
    from sgportal.celery import app

    if name not in app.tasks:
        with _IMPORT_TASKS:
            if name not in app.tasks:
                app.loader.import_default_modules()
    return app.tasks[name]


def enqueue(task: Any, args: list | tuple = (), kwargs: dict | None = None, **options) -> None:
    """Send ``task`` (a task, or its name) to the broker with ``apply_async`` options (see
    the module doc)."""
    if isinstance(task, str):
        task = task_named(task)
    if not _background.get() or task.app.conf.task_always_eager:
        task.apply_async(args=list(args), kwargs=kwargs or {}, **options)
        return
    _publisher().submit(task, list(args), kwargs or {}, options)


def flush(timeout: float = 5.0) -> bool:
    """Wait until the background thread has nothing left (tests, shutdown); True if so."""
    current = _instance
    return current is None or current.wait_idle(timeout)


class _Publisher:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.jobs: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="sgportal-publisher", daemon=True)
        self.thread.start()
        # A web worker shutting down (gunicorn restart) gives queued publishes a moment.
        atexit.register(self.wait_idle, SHUTDOWN_WAIT_S)

    def submit(self, task, args, kwargs, options) -> None:
        self.jobs.put((task, args, kwargs, options))

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.jobs.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.jobs.unfinished_tasks

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                _publish_patiently(*job)
            finally:
                self.jobs.task_done()


def _publish_patiently(task, args, kwargs, options) -> None:
    deadline = time.monotonic() + PATIENCE_S
    delay = 0.2
    while True:
        try:
            # No kombu retries: this loop retries, with a deadline.
            task.apply_async(args=args, kwargs=kwargs, retry=False, **options)
            return
        except Exception as exc:  # the broker's errors vary by transport; all are retried
            if time.monotonic() + delay > deadline:
                log.error(
                    "SGPORTAL_PUBLISH_LOST %s%s: %s: %s (the beat sweeps will redo its work)",
                    task.name,
                    tuple(args),
                    type(exc).__name__,
                    exc,
                )
                return
            log.warning("publish of %s failed (%s); retrying in %.1f s", task.name, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


_instance: _Publisher | None = None
_lock = threading.Lock()


def _publisher() -> _Publisher:
    """This process's publisher thread (a forked child starts its own)."""
    global _instance
    with _lock:
        if _instance is None or _instance.pid != os.getpid():
            _instance = _Publisher()
        return _instance
