from __future__ import annotations

import pytest

from sgportal.celery import app as celery_app


@pytest.fixture
def eager():
    """Run enqueued tasks inline (apply_async -> apply), propagating errors."""
    keys = ("task_always_eager", "task_eager_propagates")
    saved = {key: celery_app.conf.get(key) for key in keys}
    celery_app.conf.update(dict.fromkeys(keys, True))
    yield
    celery_app.conf.update(saved)
