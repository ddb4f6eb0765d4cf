from __future__ import annotations

import pytest
from moto import mock_aws

from remediation import aws
from sgportal.celery import app as celery_app


@pytest.fixture
def aws_env(monkeypatch):
    """moto for every AWS call, with fake worker credentials and an empty session cache."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.clear_cache()
    with mock_aws():
        yield
    aws.clear_cache()


@pytest.fixture
def client_hooks():
    """Register botocore hooks on every client remediation.aws creates (the network edge)."""
    hooks = aws.client_hooks
    saved = list(hooks)
    yield hooks
    hooks[:] = saved


@pytest.fixture
def eager():
    """Run enqueued tasks inline (apply_async -> apply), propagating errors."""
    keys = ("task_always_eager", "task_eager_propagates")
    saved = {key: celery_app.conf.get(key) for key in keys}
    celery_app.conf.update(dict.fromkeys(keys, True))
    yield
    celery_app.conf.update(saved)
