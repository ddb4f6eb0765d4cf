from __future__ import annotations

import pytest


@pytest.fixture
def eager(celery_eager):
    """Run enqueued tasks inline (apply_async -> apply), propagating errors."""
    celery_eager.task_eager_propagates = True
    return celery_eager
