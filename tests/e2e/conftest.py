"""Fixtures for the end-to-end tests (real worker processes, a moto server)."""

from __future__ import annotations

import pytest

from remediation import aws
from tests.e2e.worker import FAKE_CREDENTIALS, moto_server


@pytest.fixture
def endpoint(monkeypatch):
    """A fresh moto server; this process and the workers it starts use it as AWS."""
    with moto_server() as url:
        for key, value in FAKE_CREDENTIALS.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        aws.clear_cache()
        yield url
    aws.clear_cache()
